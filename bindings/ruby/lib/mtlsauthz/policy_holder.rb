# frozen_string_literal: true

module MtlsAuthz
  # The current policy of a server, swappable while requests continue (reload).
  #
  #   holder = MtlsAuthz::PolicyHolder.load_file("policy.yaml")
  #   holder.authorize(identity, "POST /images/build")
  #   holder.reload!            # re-reads the file; a failed load keeps the old policy
  #
  # #reload! loads the new policy first (raising PolicyError and keeping the old one if it
  # does not load), swaps it in, closes the old one, and calls the #on_reload blocks. A
  # decision in flight on the old policy holds its own C reference and finishes on it; a
  # request that picked up the old policy just before the swap and finds it closed is retried
  # on the new one, so a reload never turns an allowed request into a deny.
  class PolicyHolder
    attr_reader :path

    # `source` is a Policy, or a path to load.
    def initialize(source)
      @lock = Mutex.new
      @on_reload = [].freeze
      if source.is_a?(Policy)
        @policy = source
        @path = nil
      else
        @path = source.respond_to?(:to_path) ? source.to_path : String(source)
        @policy = Policy.load_file(@path)
      end
    end

    def self.load_file(path)
      new(path)
    end

    # The Policy in use now.
    def policy
      @policy
    end

    # Calls the block with the new Policy after each successful #reload!, in the thread that
    # reloaded (MtlsAuthz::Rack re-checks its start-up warnings this way). Returns the block.
    def on_reload(&block)
      raise ArgumentError, "on_reload needs a block" unless block

      @lock.synchronize { @on_reload = (@on_reload + [block]).freeze }
      block
    end

    # Swaps in a new policy: `source` is a Policy, a path, or nil to re-read #path.
    # Returns the new Policy. Raises PolicyError (the old policy stays) if it does not load.
    def reload!(source = nil)
      fresh =
        case source
        when Policy then source
        when nil
          raise ArgumentError, "no path to reload from" unless @path

          Policy.load_file(@path)
        else
          @path = source.respond_to?(:to_path) ? source.to_path : String(source)
          Policy.load_file(@path)
        end
      old = @lock.synchronize do
        prev = @policy
        @policy = fresh
        prev
      end
      old.close unless old.equal?(fresh)
      @on_reload.each { |callback| callback.call(fresh) }
      fresh
    end

    # As Policy#authorize, on the current policy.
    def authorize(identity, operation)
      3.times do
        policy = @policy
        decision = policy.authorize(identity, operation)
        # Closed between our read and the decision: a reload swapped it. Use the new one.
        swapped = policy.closed? && decision.reason == :error && !policy.equal?(@policy)
        return decision unless swapped
      end
      @policy.authorize(identity, operation)
    end

    def close
      @lock.synchronize { @policy }.close
    end
  end
end
