// Package client is the ajwt client shim: what an application that hosts
// AI agents imports to obtain intent tokens for them (PROTOCOL.md §2–§6).
// It feels like golang.org/x/oauth2: a Client from the IdP's issuer URL and
// client credentials, Agent handles built from specs, a TokenSource per
// (agent, run, step), and a Transport that signs every request.
//
//	c, _ := client.New(ctx, client.Config{Issuer: "http://127.0.0.1:8420", ClientID: "patch-app", ClientSecret: secret})
//	master, _ := keys.LoadMasterSecretFile("shim-master.key")
//	patcher, _ := c.Agent(spec, client.DerivedKey(master))
//	if err := patcher.VerifyRegistration(ctx); err != nil { … }   // start-up check
//
//	run, _ := c.StartRun(ctx, "vuln-patch", "user:alice", map[string]string{"repo": "acme/web"})
//	ts := patcher.TokenSource(run.ID, "patch", client.WithResource("https://forge.example"))
//	api := &http.Client{Transport: &client.Transport{Source: ts}}
//	api.Post("https://forge.example/repos/acme/web/pulls", …)         // Authorization: DPoP + proof
//	patcher.Complete(ctx, run.ID, "patch")
//
// The agent checksum is recomputed from the live spec for every token
// request, so a spec changed in memory after start-up is refused by the IdP
// (agent_checksum_mismatch). Prompts are filled only through Agent.Render,
// which refuses values outside their declared patterns (§2.5).
//
// Options follow x/oauth2's two kinds: a Config struct for what a Client
// needs (issuer and credentials), functional Options (WithResource,
// WithScopes, WithDelegation) for what a token source may narrow.
package client
