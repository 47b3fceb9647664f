# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

module MtlsAuthz
  # The current policy of a server, swappable while requests continue (reload).
  #
  #   holder = MtlsAuthz::PolicyHolder.load_file("policy.yaml", watch: 2)
  #   holder.authorize(identity, "POST /images/build")
  #   holder.reload!            # re-reads the file; a failed load keeps the old policy
  #
  # #reload! loads the new policy first (raising PolicyError and keeping the old one if it
  # does not load), swaps it in, closes the old one, and calls the #on_reload blocks. A
  # decision in flight on the old policy holds its own C reference and finishes on it; a
  # request that picked up the old policy just before the swap and finds it closed is retried
  # on the new one, so a reload never turns an allowed request into a deny.
  #
  # #watch makes the holder reload by itself when the file changes, in every process that
  # decides: the right reload for a forking server such as Puma in cluster mode (see #watch).
  class PolicyHolder
    DEFAULT_WATCH_INTERVAL = 2.0

    attr_reader :path, :watch_interval

    # `source` is a Policy, or a path to load. `watch:` as in #watch (nil or false: off).
    def initialize(source, watch: nil)
      @lock = Mutex.new
      @reload_lock = Mutex.new
      @watch_lock = Mutex.new
      @on_reload = [].freeze
      @on_reload_failure = [].freeze
      @successes = 0
      @failures = 0
      @last_error = nil
      @last_failure_at = nil
      @watch_interval = nil
      @watch_thread = nil
      @file_sig = nil
      if source.is_a?(Policy)
        @policy = source
        @path = nil
      else
        @path = path_of(source)
        @file_sig = FileWatch.signature(@path)
        @policy = Policy.load_file(@path)
      end
      @rules = rule_count_of(@policy)
      self.watch(watch) if watch
    end

    def self.load_file(path, watch: nil)
      new(path, watch: watch)
    end

    # The Policy in use now.
    def policy
      @policy
    end

    # Calls the block with the new Policy after each successful #reload!, in the thread that
    # reloaded (MtlsAuthz::Rack re-checks its start-up warnings this way). Returns the block.
    # A block that raises is reported on $stderr; the reload stands and the other blocks run.
    def on_reload(&block)
      raise ArgumentError, "on_reload needs a block" unless block

      @lock.synchronize { @on_reload = (@on_reload + [block]).freeze }
      block
    end

    # Calls the block with the PolicyError after each reload that failed (the old policy is
    # still in use), in the thread that tried. Returns the block.
    def on_reload_failure(&block)
      raise ArgumentError, "on_reload_failure needs a block" unless block

      @lock.synchronize { @on_reload_failure = (@on_reload_failure + [block]).freeze }
      block
    end

    # Swaps in a new policy: `source` is a Policy, a path, or nil to re-read #path.
    # Returns the new Policy. Raises PolicyError (the old policy stays) if it does not load;
    # the failure is counted (#stats) and the #on_reload_failure blocks are called first.
    def reload!(source = nil)
      fresh = @reload_lock.synchronize { load_and_swap(source) }
      @on_reload.each { |callback| notify(callback, fresh) }
      fresh
    rescue PolicyError => e
      @on_reload_failure.each { |callback| notify(callback, e) }
      raise
    end

    # Reloads when the file at #path is not the one last loaded or tried: another file was
    # renamed over it, its symlinks point elsewhere (a Kubernetes ConfigMap update), or it
    # was rewritten (FileWatch.signature). A file that failed to load is not tried again
    # until it changes again. Returns :unchanged, :reloaded or :failed.
    def reload_if_changed
      return :unchanged if @path.nil? || FileWatch.signature(@path) == @file_sig

      reload!
      :reloaded
    rescue PolicyError
      :failed
    end

    # Watches #path and reloads it when it changes (#reload_if_changed), checking every
    # `interval` seconds (true: DEFAULT_WATCH_INTERVAL), from a thread of this process.
    #
    # The thread is started by #watch_tick, which MtlsAuthz::Rack calls on every request: in
    # each process that serves requests, on its first request, so each Puma worker of a
    # cluster watches for itself, whether the app was loaded before the fork (preload_app!)
    # or after. That first request also checks the file before it is decided. Returns self.
    def watch(interval = DEFAULT_WATCH_INTERVAL)
      raise ArgumentError, "watch needs a policy file: this holder was given a Policy" unless @path

      interval = DEFAULT_WATCH_INTERVAL if interval == true
      unless interval.is_a?(Numeric) && interval.positive? && interval.finite?
        raise ArgumentError, "watch interval must be a positive number of seconds, " \
                             "not #{interval.inspect}"
      end

      @watch_interval = interval.to_f
      self
    end

    # Starts the watch thread of this process unless it runs (the first request after start
    # or after a fork: a forked child has none of its parent's threads). Cheap when it runs.
    def watch_tick
      return unless @watch_interval

      t = @watch_thread
      return if t&.alive?

      start_watch_thread
    end

    # Is a watch thread running in this process?
    def watching?
      @watch_thread&.alive? ? true : false
    end

    # Stops watching: clears #watch_interval and stops this process's watch thread.
    def unwatch
      @watch_lock.synchronize do
        @watch_interval = nil
        t = @watch_thread
        @watch_thread = nil
        t&.kill
      end
      self
    end

    # Counters and gauges of this process, for metrics (docs/http.md, "Metrics"):
    #   reload_successes, reload_failures  reloads since start (not the first load)
    #   last_reload_error                  the message of the latest failed reload, or nil
    #   last_reload_failure_at             when it failed (Time), or nil
    #   rules                              rules in the policy in use
    #   load_seconds, loaded_at            how long it took to load, and when it was loaded
    #   path, watch_interval
    def stats
      @reload_lock.synchronize do
        policy = @policy
        { reload_successes: @successes, reload_failures: @failures,
          last_reload_error: @last_error, last_reload_failure_at: @last_failure_at,
          rules: @rules, load_seconds: policy.load_seconds, loaded_at: policy.loaded_at,
          path: @path, watch_interval: @watch_interval }
      end
    end

    # As Policy#authorize, on the current policy.
    def authorize(identity, operation)
      policy = @policy
      decision = policy.authorize(identity, operation)
      return decision unless decision.reason == :error

      # Closed between our read and the decision: a reload swapped it. Use the new one (a
      # loop without a block on the request path: only an error comes here).
      2.times do
        return decision unless policy.closed? && !policy.equal?(@policy)

        policy = @policy
        decision = policy.authorize(identity, operation)
      end
      decision
    end

    def close
      unwatch
      @lock.synchronize { @policy }.close
    end

    private

    def path_of(source)
      source.respond_to?(:to_path) ? source.to_path : String(source)
    end

    def rule_count_of(policy)
      policy.rule_count
    rescue ClosedError
      nil
    end

    # Under @reload_lock, so that counters, the file signature and the swap agree.
    def load_and_swap(source)
      if source.is_a?(Policy)
        fresh = source
      else
        path = source.nil? ? @path : path_of(source)
        raise ArgumentError, "no path to reload from" unless path

        # The signature is taken before the read: a change during the read is seen next time.
        sig = FileWatch.signature(path)
        begin
          fresh = Policy.load_file(path)
        rescue PolicyError => e
          @file_sig = sig if path == @path # this version was tried: wait for the next one
          @failures += 1
          @last_error = e.message
          @last_failure_at = Time.now
          raise
        end
        @path = path
        @file_sig = sig
      end
      @successes += 1
      @rules = rule_count_of(fresh)
      old = @lock.synchronize do
        prev = @policy
        @policy = fresh
        prev
      end
      old.close unless old.equal?(fresh)
      fresh
    end

    def notify(callback, arg)
      callback.call(arg)
    rescue StandardError => e
      Kernel.warn("mtlsauthz: a reload callback raised #{e.class}: #{e.message}")
    end

    def start_watch_thread
      @watch_lock.synchronize do
        return if @watch_thread&.alive? || @watch_interval.nil?

        # A file changed before this process's first request (or while it was being forked)
        # is picked up before that request is decided.
        reload_if_changed
        @watch_thread = Thread.new { watch_loop }
        PolicyHolder.stop_at_exit(self)
      end
    end

    # Watch threads are stopped before the interpreter exits, and waited for: a thread still
    # inside a library call (a reload runs without the GVL) while Ruby tears itself down can
    # crash the exiting process.
    @exiting = []
    @exiting_lock = Mutex.new
    class << self
      def stop_at_exit(holder) # :nodoc:
        @exiting_lock.synchronize do
          at_exit { stop_all_watches } if @exiting.empty?
          @exiting << holder unless @exiting.include?(holder)
        end
      end

      def stop_all_watches # :nodoc:
        holders = @exiting_lock.synchronize { @exiting.dup }
        holders.each { |h| h.send(:stop_watch_for_exit) }
      end
    end

    def stop_watch_for_exit # :nodoc:
      t = @watch_lock.synchronize do
        @watch_interval = nil
        @watch_thread
      end
      return if t.nil? || t == Thread.current

      t.wakeup if t.alive? && t.status == "sleep"
      t.join(5)
    rescue ThreadError
      nil
    end

    def watch_loop
      Thread.current.name = "mtlsauthz-watch"
      Thread.current.report_on_exception = false
      while (interval = @watch_interval)
        sleep interval
        begin
          reload_if_changed
        rescue StandardError => e # never let the watch die: the next check tries again
          Kernel.warn("mtlsauthz: policy watch: #{e.class}: #{e.message}")
        end
      end
    end
  end
end
