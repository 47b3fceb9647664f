# SPDX-License-Identifier: Apache-2.0
# frozen_string_literal: true

# Shared set-up for the Minitest suite. Run from the top of the tree with
#   make check-ruby
# or by hand:
#   MTLSAUTHZ_LIB=$PWD/build/lib/libmtlsauthz.so.0 ruby -Ibindings/ruby/lib -Ibindings/ruby/test \
#       -e 'Dir["bindings/ruby/test/*_test.rb"].sort.each { |f| require File.expand_path(f) }'
#
# Certificates come from tests/certs/gen-certs.sh, run once per test run into a temp dir
# (or MTLSAUTHZ_TEST_CERTS, if set, names a directory it already filled).
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "fileutils"
require "tmpdir"
require "mtlsauthz"

module TestSupport
  TOP = File.expand_path("../../..", __dir__)
  EXAMPLE_POLICY = File.join(TOP, "examples/policy.yaml")

  def self.certs
    @certs ||= begin
      dir = ENV["MTLSAUTHZ_TEST_CERTS"]
      if dir.nil? || dir.empty?
        dir = Dir.mktmpdir("mtlsauthz-ruby-certs")
        at_exit { FileUtils.rm_rf(dir) }
        ok = system(File.join(TOP, "tests/certs/gen-certs.sh"), dir, out: File::NULL,
                    err: File::NULL)
        raise "tests/certs/gen-certs.sh failed" unless ok
      end
      dir
    end
  end

  # A policy that lets any verified client GET /PATH and nothing else, and one that does not
  # load (a rule without principals): for the reload tests.
  def self.allow_only(path)
    <<~YAML
      version: 1
      protocol: http
      rules:
        - id: allow-#{path}
          effect: allow
          principals: ["*"]
          operations: ["GET /#{path}"]
    YAML
  end
  BAD_POLICY = "version: 1\nprotocol: http\nrules:\n  - id: broken\n    effect: allow\n"

  def cert_path(name)
    File.join(TestSupport.certs, name)
  end

  def pem(name)
    File.read(cert_path("#{name}.pem"))
  end

  def der(name)
    File.binread(cert_path("#{name}.der"))
  end

  def identity(name)
    MtlsAuthz::Identity.from_pem(pem(name))
  end

  def example_policy
    MtlsAuthz::Policy.load_file(EXAMPLE_POLICY)
  end

  # nginx's $ssl_client_escaped_cert: the PEM, percent-encoded (newlines, "+", "/", "=").
  def nginx_escape(pem)
    pem.gsub(/[^A-Za-z0-9\-_.~]/) { |c| format("%%%02X", c.ord) }
  end

  # The environment a child process needs to load the same library as this one.
  def child_env
    { "MTLSAUTHZ_LIB" => MtlsAuthz.library_path, "RUBYLIB" => File.join(TOP, "bindings/ruby/lib") }
  end
end

require "open3"
require "timeout"

# A Puma server in a child process, for the tests that need real TLS.
class PumaProcess
  attr_reader :port, :log_path

  # Starts `cmd` (an Array), waits for Puma's "Listening on ssl://HOST:PORT", and returns it.
  def self.start(cmd, env: {}, log_path:)
    new(cmd, env, log_path).tap(&:wait_listening)
  end

  def initialize(cmd, env, log_path)
    @log_path = log_path
    @pid = Process.spawn(env, *cmd, out: log_path, err: [:child, :out], pgroup: true)
  end

  def log
    File.exist?(@log_path) ? File.read(@log_path) : ""
  end

  def wait_listening(timeout = 60)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      if (m = log.match(%r{Listening on ssl://127\.0\.0\.1:(\d+)}))
        @port = Integer(m[1])
        return
      end
      if Process.waitpid(@pid, Process::WNOHANG)
        @pid = nil
        raise "puma exited before listening:\n#{log}"
      end
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "puma did not listen within #{timeout}s:\n#{log}"
      end

      sleep 0.1
    end
  end

  def stop
    return unless @pid

    Process.kill("TERM", -@pid)
    Timeout.timeout(20) { Process.waitpid(@pid) }
  rescue Timeout::Error
    Process.kill("KILL", -@pid)
    Process.waitpid(@pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    @pid = nil
  end
end

module CurlSupport
  # [HTTP status (0 when there was no HTTP response), body, curl's exit status]. A HEAD
  # request goes as curl --head, which expects no body (-X HEAD would wait for one).
  def curl(port, path, cert: nil, method: "GET", certs:)
    args = ["curl", "-sS", "--max-time", "20", "--cacert", File.join(certs, "ca.pem"),
            "-o", "-", "-w", "\n%{http_code}"]
    args += method == "HEAD" ? ["--head"] : ["-X", method]
    if cert
      args += ["--cert", File.join(certs, "#{cert}-chain.pem"),
               "--key", File.join(certs, "#{cert}.key")]
    end
    args << "https://localhost:#{port}#{path}"
    out, _err, status = Open3.capture3(*args)
    body, _, code = out.rpartition("\n")
    [Integer(code, exception: false) || 0, body, status.exitstatus]
  end
end

# A directory laid out the way the kubelet mounts a ConfigMap volume, and updated the way it
# updates one: the files live in a timestamped directory, `..data` links to it and each file
# name links through `..data`. An update writes a new timestamped directory, points a
# `..data_tmp` link at it, renames that over `..data` (one atomic rename(2)) and removes the
# old directory. The file the application opened is never written.
class ConfigMapDir
  attr_reader :dir

  def initialize(dir, files)
    @dir = dir
    @serial = 0
    @current = write_version(files)
    File.symlink(@current, File.join(dir, "..data"))
    files.each_key { |name| File.symlink(File.join("..data", name), File.join(dir, name)) }
  end

  def path(name)
    File.join(@dir, name)
  end

  def update(files)
    old = @current
    @current = write_version(files)
    tmp = File.join(@dir, "..data_tmp")
    File.symlink(@current, tmp)
    File.rename(tmp, File.join(@dir, "..data"))
    FileUtils.rm_rf(File.join(@dir, old))
  end

  private

  def write_version(files)
    @serial += 1
    name = format("..2026_12_04_17_30_%02d.%09d", @serial, Process.pid)
    FileUtils.mkdir_p(File.join(@dir, name))
    files.each { |file, text| File.write(File.join(@dir, name, file), text) }
    name
  end
end
