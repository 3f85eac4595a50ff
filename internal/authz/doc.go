// Package authz is `ajwt authz` (PROTOCOL.md §13): the enforcer of §8
// for gateways that stay in the data path and ask for each decision.
//
// Four doors read the original request from what a gateway forwards —
// forward-auth (Traefik, Caddy), auth-request (nginx), Envoy's HTTP
// ext_authz and Envoy's gRPC Check (Envoy, Istio) — and each only
// translates: it builds a synthetic *http.Request from the forwarded
// fields and asks the same middleware.Enforcer the proxy asks, with
// Check, then turns the decision into its gateway's answer. The checks,
// their order, the reasons and path canonicalization are therefore the
// proxy's by construction; the doors differ only where §13.2 says they
// do (nginx gets 403 for 400 and 413; gRPC carries the HTTP answer in a
// CheckResponse).
//
// Trust (§13.3): the forwarded fields decide what is checked, so a
// request without the gateway secret, when one is configured, gets 401
// gateway_unauthenticated and no decision.
//
//	a, _ := authz.New(enf, authz.Options{Secret: secret})
//	http.Serve(ln, a.Handler())       // the three HTTP doors
//	a.RegisterGRPC(grpcServer)        // envoy.service.auth.v3.Authorization
//
// This package links gRPC and Envoy's API types; the public SDK packages
// (middleware, proxy) never import it.
package authz
