package authz

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// RegisterGRPC serves envoy.service.auth.v3.Authorization/Check on s.
func (a *Authorizer) RegisterGRPC(s grpc.ServiceRegistrar) {
	authv3.RegisterAuthorizationServer(s, &checkService{a: a})
}

type checkService struct {
	authv3.UnimplementedAuthorizationServer
	a *Authorizer
}

// Check answers Envoy and Istio. The gateway secret comes in the call's
// metadata, which Envoy sets (grpc_service.initial_metadata), never in
// the forwarded headers, which the client chose.
func (s *checkService) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if !s.a.gatewayOK(md.Get(strings.ToLower(HeaderGatewaySecret))) {
		return gatewayRefusal().checkResponse(), nil
	}
	f, err := fromCheck(req)
	return s.a.decide(ctx, DoorGRPC, f, err).checkResponse(), nil
}

// checkResponse is the answer in Envoy's terms: OK with the identity
// headers for the upstream, or the refusal's status, headers and body for
// the client (§13.2).
func (a *Answer) checkResponse() *authv3.CheckResponse {
	if a.Allowed() {
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: a.okResponse()}}
	}
	grpcCode := codes.PermissionDenied
	if a.Status == http.StatusUnauthorized {
		grpcCode = codes.Unauthenticated
	}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(grpcCode), Message: a.Header.Get(HeaderReason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)}, Headers: headerOptions(a.Header), Body: string(a.Body)}}}
}

// okResponse sets the identity headers that have a value on the upstream
// request and removes the credentials and the identity headers that have
// none, so that a value the client sent under one of the five names
// never reaches the upstream.
func (a *Answer) okResponse() *authv3.OkHttpResponse {
	ok := &authv3.OkHttpResponse{HeadersToRemove: []string{"authorization", "dpop"}}
	for _, name := range identityHeaders {
		if v := a.Header.Get(name); v != "" {
			ok.Headers = append(ok.Headers, headerOption(name, v))
		} else {
			ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(name))
		}
	}
	return ok
}

// headerOptions lists h in Envoy's form, names lower-case (HTTP/2), in a
// stable order.
func headerOptions(h http.Header) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			out = append(out, headerOption(name, v))
		}
	}
	return out
}

func headerOption(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(name), Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}
