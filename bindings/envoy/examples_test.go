// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"sigs.k8s.io/yaml"
)

// The examples in examples/envoy are checked here as Envoy and Istio would read them, since
// neither runs in this tree: every field must exist (protojson, strictly, with each
// typed_config resolved to its message type), every value must pass Envoy's own validation
// rules (ValidateAll, inside every typed_config too), and the pieces must fit together.

const examplesDir = "../../examples/envoy/"

// strictJSON is protojson without tolerance: an unknown field or an unresolvable @type is an
// error.
var strictJSON = protojson.UnmarshalOptions{}

// loadYAML reads a YAML file (or text) into m, strictly.
func loadYAML(text []byte, m proto.Message) error {
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		return err
	}
	return strictJSON.Unmarshal(j, m)
}

// validateDeep runs Envoy's validation rules (protoc-gen-validate's ValidateAll) on m and on
// every message inside it, including those packed in google.protobuf.Any, which ValidateAll
// itself does not open.
func validateDeep(m protoreflect.Message, path string) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		return validateDeep(inner.ProtoReflect(), path+"("+a.TypeUrl+")")
	}
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = validateDeep(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateDeep(mv.Message(), p+"["+k.String()+"]")
				return err == nil
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			err = validateDeep(v.Message(), p)
		}
		return err == nil
	})
	return err
}

// loadBootstrap is an Envoy configuration file as Envoy reads it.
func loadBootstrap(text []byte) (*bootstrapv3.Bootstrap, error) {
	var b bootstrapv3.Bootstrap
	if err := loadYAML(text, &b); err != nil {
		return nil, err
	}
	if err := validateDeep(b.ProtoReflect(), "bootstrap"); err != nil {
		return nil, err
	}
	return &b, nil
}

func unpack[T proto.Message](t *testing.T, a *anypb.Any, m T) T {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("%s: %v", a.GetTypeUrl(), err)
	}
	return m
}

func findCluster(b *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// wantGRPCCluster checks that c speaks HTTP/2 and health-checks the Authorization service.
func wantGRPCCluster(t *testing.T, c *clusterv3.Cluster) {
	t.Helper()
	opts := unpack(t, c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"],
		&httpv3.HttpProtocolOptions{})
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Error("the mtlsauthz cluster does not speak HTTP/2, which gRPC needs")
	}
	if hc := c.GetHealthChecks(); len(hc) != 1 || hc[0].GetGrpcHealthCheck().GetServiceName() != healthService {
		t.Errorf("health checks %v, want grpc.health.v1 for %s", hc, healthService)
	}
}

// TestExampleEnvoy: examples/envoy/envoy.yaml is a valid Envoy configuration whose listener
// requires verified client certificates and whose ext_authz filter sends the certificate to
// the server on its Unix socket, failing closed.
func TestExampleEnvoy(t *testing.T) {
	b, err := loadBootstrap(readFileT(t, examplesDir+"envoy.yaml"))
	if err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 {
		t.Fatalf("want one listener with one filter chain: %v", ls)
	}
	fc := ls[0].GetFilterChains()[0]
	tlsCtx := unpack(t, fc.GetTransportSocket().GetTypedConfig(), &tlsv3.DownstreamTlsContext{})
	if !tlsCtx.GetRequireClientCertificate().GetValue() ||
		tlsCtx.GetCommonTlsContext().GetValidationContext().GetTrustedCa() == nil {
		t.Error("the listener does not require a client certificate verified against a CA")
	}
	hcm := unpack(t, fc.GetFilters()[0].GetTypedConfig(), &hcmv3.HttpConnectionManager{})
	if hcm.GetForwardClientCertDetails() != hcmv3.HttpConnectionManager_SANITIZE {
		t.Errorf("forward_client_cert_details %v, want SANITIZE", hcm.GetForwardClientCertDetails())
	}
	filters := hcm.GetHttpFilters()
	if len(filters) != 2 || filters[0].GetName() != "envoy.filters.http.ext_authz" ||
		filters[1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("http filters %v, want ext_authz then the router", filters)
	}
	authz := unpack(t, filters[0].GetTypedConfig(), &extauthzv3.ExtAuthz{})
	if !authz.GetIncludePeerCertificate() || authz.GetFailureModeAllow() {
		t.Errorf("ext_authz: include_peer_certificate %v, failure_mode_allow %v; want true, false",
			authz.GetIncludePeerCertificate(), authz.GetFailureModeAllow())
	}
	cluster := authz.GetGrpcService().GetEnvoyGrpc().GetClusterName()
	c := findCluster(b, cluster)
	if c == nil {
		t.Fatalf("ext_authz names cluster %q, which is not defined", cluster)
	}
	wantGRPCCluster(t, c)
	ep := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
	sock := ep.GetPipe().GetPath()
	if sock == "" {
		t.Fatalf("the %s cluster is not on a Unix socket: %v", cluster, ep)
	}
	// The README's command serves on the socket this configuration asks.
	if readme := string(readFileT(t, "README.md")); !strings.Contains(readme, "--listen unix:"+sock) {
		t.Errorf("README.md has no server command with --listen unix:%s", sock)
	}
}

// TestExampleEnvoyMTLSCluster: the TCP variant of the mtlsauthz cluster presents Envoy's
// client certificate, verifies the server's, and negotiates h2 by ALPN.
func TestExampleEnvoyMTLSCluster(t *testing.T) {
	b, err := loadBootstrap(readFileT(t, examplesDir+"envoy-mtls-cluster.yaml"))
	if err != nil {
		t.Fatalf("envoy-mtls-cluster.yaml: %v", err)
	}
	c := findCluster(b, "mtlsauthz")
	if c == nil {
		t.Fatal("no mtlsauthz cluster")
	}
	wantGRPCCluster(t, c)
	up := unpack(t, c.GetTransportSocket().GetTypedConfig(), &tlsv3.UpstreamTlsContext{})
	common := up.GetCommonTlsContext()
	if len(common.GetTlsCertificates()) != 1 || common.GetValidationContext().GetTrustedCa() == nil ||
		len(common.GetValidationContext().GetMatchTypedSubjectAltNames()) == 0 {
		t.Error("the cluster does not present a client certificate and verify the server's name")
	}
	if alpn := common.GetAlpnProtocols(); len(alpn) != 1 || alpn[0] != "h2" {
		t.Errorf("alpn_protocols %v, want [h2]", alpn)
	}
}

// TestExampleValidationFails proves that the checks above can fail: a misspelled field, at
// the top or inside a typed_config, an unknown type, and a value out of Envoy's range.
func TestExampleValidationFails(t *testing.T) {
	good := string(readFileT(t, examplesDir+"envoy.yaml"))
	for _, c := range []struct{ old, new, want string }{
		{"static_resources:", "static_resource:", "static_resource"},
		{"include_peer_certificate: true", "include_peer_certificat: true", "include_peer_certificat"},
		{"require_client_certificate: true", "require_client_certificates: true", "require_client_certificates"},
		{"failure_mode_allow: false", "failure_mode_allow: nope", "failureModeAllow"},
		{"ext_authz.v3.ExtAuthz", "ext_authz.v3.ExtAuth", "ExtAuth"},
		{"port_value: 8443", "port_value: 70000", "PortValue"},
		{"cluster_name: mtlsauthz }", "cluster_name: \"\" }", "ClusterName"},
		{"connect_timeout: 1s", "connect_timeout: -1s", "ConnectTimeout"},
	} {
		bad := strings.Replace(good, c.old, c.new, 1)
		if bad == good {
			t.Fatalf("%q is not in envoy.yaml", c.old)
		}
		_, err := loadBootstrap([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: %v, want an error about %s", c.old, c.new, err, c.want)
		}
	}
}

// k8sObject is a Kubernetes resource, read strictly: these keys and no others.
type k8sObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

// loadIstio reads an Istio resource of kind at apiVersion into spec, strictly.
func loadIstio(text []byte, apiVersion, kind string, spec proto.Message) (*k8sObject, error) {
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var o k8sObject
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	if o.APIVersion != apiVersion || o.Kind != kind || o.Metadata.Name == "" {
		return nil, fmt.Errorf("%s %s named %q, want %s %s with a name", o.APIVersion, o.Kind,
			o.Metadata.Name, apiVersion, kind)
	}
	return &o, strictJSON.Unmarshal(o.Spec, spec)
}

// TestExampleIstio: the Istio resources fit their schemas (istio.io/api), and each other: the
// policy names the provider, the provider's service is the ServiceEntry's loopback address
// (where the server may serve plain gRPC), and the EnvoyFilter makes Istio's ext_authz filter
// send the peer certificate, for the same workloads.
func TestExampleIstio(t *testing.T) {
	var mesh meshv1alpha1.MeshConfig
	if err := loadYAML(readFileT(t, examplesDir+"istio/mesh-config.yaml"), &mesh); err != nil {
		t.Fatalf("mesh-config.yaml: %v", err)
	}
	if len(mesh.GetExtensionProviders()) != 1 {
		t.Fatalf("extension providers: %v", mesh.GetExtensionProviders())
	}
	provider := mesh.GetExtensionProviders()[0]
	grpcProvider := provider.GetEnvoyExtAuthzGrpc()
	if grpcProvider == nil || grpcProvider.GetFailOpen() {
		t.Fatalf("provider %v: want envoyExtAuthzGrpc, failing closed", provider)
	}

	var policy securityv1beta1.AuthorizationPolicy
	obj, err := loadIstio(readFileT(t, examplesDir+"istio/authorization-policy.yaml"),
		"security.istio.io/v1", "AuthorizationPolicy", &policy)
	if err != nil {
		t.Fatalf("authorization-policy.yaml: %v", err)
	}
	if policy.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM ||
		policy.GetProvider().GetName() != provider.GetName() || len(policy.GetRules()) != 1 {
		t.Errorf("AuthorizationPolicy: %v, want CUSTOM with provider %s and one rule", &policy, provider.GetName())
	}
	workload := policy.GetSelector().GetMatchLabels()
	namespace := obj.Metadata.Namespace

	var se networkingv1alpha3.ServiceEntry
	obj, err = loadIstio(readFileT(t, examplesDir+"istio/service-entry.yaml"),
		"networking.istio.io/v1", "ServiceEntry", &se)
	if err != nil {
		t.Fatalf("service-entry.yaml: %v", err)
	}
	if len(se.GetHosts()) != 1 || se.GetHosts()[0] != grpcProvider.GetService() ||
		len(se.GetPorts()) != 1 || se.GetPorts()[0].GetNumber() != grpcProvider.GetPort() ||
		se.GetPorts()[0].GetProtocol() != "GRPC" || len(se.GetEndpoints()) != 1 ||
		!isLoopback(se.GetEndpoints()[0].GetAddress()) || obj.Metadata.Namespace != namespace {
		t.Errorf("ServiceEntry %v does not put %s:%d on loopback in %s", &se, grpcProvider.GetService(),
			grpcProvider.GetPort(), namespace)
	}

	// The README's server container listens where the ServiceEntry points.
	listen := fmt.Sprintf(`"tcp:%s:%d"`, se.GetEndpoints()[0].GetAddress(), grpcProvider.GetPort())
	if readme := string(readFileT(t, "README.md")); !strings.Contains(readme, listen) {
		t.Errorf("README.md's server container does not listen on %s", listen)
	}

	var ef networkingv1alpha3.EnvoyFilter
	obj, err = loadIstio(readFileT(t, examplesDir+"istio/envoy-filter.yaml"),
		"networking.istio.io/v1alpha3", "EnvoyFilter", &ef)
	if err != nil {
		t.Fatalf("envoy-filter.yaml: %v", err)
	}
	if fmt.Sprint(ef.GetWorkloadSelector().GetLabels()) != fmt.Sprint(workload) || obj.Metadata.Namespace != namespace {
		t.Errorf("the EnvoyFilter selects %v in %s, the policy %v in %s", ef.GetWorkloadSelector().GetLabels(),
			obj.Metadata.Namespace, workload, namespace)
	}
	if len(ef.GetConfigPatches()) != 1 {
		t.Fatalf("config patches: %v", ef.GetConfigPatches())
	}
	cp := ef.GetConfigPatches()[0]
	if cp.GetApplyTo() != networkingv1alpha3.EnvoyFilter_HTTP_FILTER ||
		cp.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND ||
		cp.GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName() != "envoy.filters.http.ext_authz" ||
		cp.GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_MERGE {
		t.Errorf("the patch does not merge into the inbound ext_authz filter: %v", cp)
	}
	// The patch's value is a fragment of Envoy's HttpFilter: read it as one, strictly.
	value, err := protojson.Marshal(cp.GetPatch().GetValue())
	if err != nil {
		t.Fatal(err)
	}
	var hf hcmv3.HttpFilter
	if err := strictJSON.Unmarshal(value, &hf); err != nil {
		t.Fatalf("the patch is not an HttpFilter: %v", err)
	}
	if !unpack(t, hf.GetTypedConfig(), &extauthzv3.ExtAuthz{}).GetIncludePeerCertificate() {
		t.Error("the patch does not set include_peer_certificate")
	}
}

// TestExampleIstioValidationFails: a misspelled field in an Istio resource is an error.
func TestExampleIstioValidationFails(t *testing.T) {
	for _, c := range []struct {
		file, old, new string
		load           func([]byte) error
	}{
		{"mesh-config.yaml", "envoyExtAuthzGrpc:", "envoyExtAuthzGRPC:", func(b []byte) error {
			return loadYAML(b, &meshv1alpha1.MeshConfig{})
		}},
		{"authorization-policy.yaml", "action: CUSTOM", "acton: CUSTOM", func(b []byte) error {
			_, err := loadIstio(b, "security.istio.io/v1", "AuthorizationPolicy", &securityv1beta1.AuthorizationPolicy{})
			return err
		}},
		{"authorization-policy.yaml", "action: CUSTOM", "action: CUSTOMISED", func(b []byte) error {
			_, err := loadIstio(b, "security.istio.io/v1", "AuthorizationPolicy", &securityv1beta1.AuthorizationPolicy{})
			return err
		}},
		{"service-entry.yaml", "namespace: build", "namespce: build", func(b []byte) error {
			_, err := loadIstio(b, "networking.istio.io/v1", "ServiceEntry", &networkingv1alpha3.ServiceEntry{})
			return err
		}},
		{"envoy-filter.yaml", "subFilter:", "subfilter:", func(b []byte) error {
			_, err := loadIstio(b, "networking.istio.io/v1alpha3", "EnvoyFilter", &networkingv1alpha3.EnvoyFilter{})
			return err
		}},
	} {
		good := string(readFileT(t, examplesDir+"istio/"+c.file))
		bad := strings.Replace(good, c.old, c.new, 1)
		if bad == good {
			t.Fatalf("%s: no %q", c.file, c.old)
		}
		if c.load([]byte(good)) != nil || c.load([]byte(bad)) == nil {
			t.Errorf("%s: %q -> %q was not refused (or the original was)", c.file, c.old, c.new)
		}
	}
}
