# frozen_string_literal: true

# The container-escape story, as a Grape API behind MtlsAuthz::Rack.
#
# A build service exposes Docker-like operations over mTLS. Every client certificate comes
# from the company CA, so "it verified" says nothing about what the caller may do. The policy
# (examples/policy.yaml) says: any verified client may check health, the CI builder may build
# and push images, ops may look at containers, and nobody execs into a container, attaches to
# one, or touches /host. Run it with examples/grape/run.sh (Puma, TLS, verify_mode force_peer).
#
# The handlers are stubs: they say what they would do. The dangerous ones are never reached,
# because the middleware answers 403 first.
# The gem from this tree (drop this line where the gem is installed).
$LOAD_PATH.unshift File.expand_path("../../bindings/ruby/lib", __dir__)
require "mtlsauthz"
require "grape"
require "logger"

class ContainerAPI < Grape::API
  format :json

  helpers do
    def caller_name
      id = env["mtlsauthz.identity"]
      id && (id.spiffe_id || id.dn)
    end
  end

  get(:healthz) { { status: "ok" } }

  post("images/build") { { status: "building", by: caller_name } }
  post("images/:name/push") { { status: "pushing", image: params[:name], by: caller_name } }

  get(:containers) { [{ id: "abc", image: "web:1.2" }] }
  get("containers/:id") { { id: params[:id], image: "web:1.2", state: "running" } }
  get("containers/:id/logs") { { id: params[:id], logs: ["started"] } }

  # The escape hatches. The policy denies them to everyone; if the middleware were missing,
  # any verified client would get a shell in the container (or on the host).
  post("containers/:id/exec") { { status: "exec started", id: params[:id], by: caller_name } }
  post("containers/:id/attach") { { status: "attached", id: params[:id], by: caller_name } }
  route(:any, "host/*path") { { status: "host access", path: params[:path], by: caller_name } }
end

policy = ENV.fetch("MTLSAUTHZ_POLICY", File.expand_path("../policy.yaml", __dir__))
# watch: reload the policy when the file changes (checked every 2 s, in each Puma process).
use MtlsAuthz::Rack, policy: policy, logger: Logger.new($stderr), watch: true
run ContainerAPI
