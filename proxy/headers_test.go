package proxy

import "testing"

func TestDropHeader(t *testing.T) {
	for name, drop := range map[string]bool{
		"Authorization": true, "authorization": true, "Dpop": true, "DPoP": true,
		"Ajwt-Agent": true, "Ajwt_Agent": true, "AJWT_RUN": true, "ajwt-anything": true, "Ajwt_": true, "Ajwt-": true,
		"X-Http-Method-Override": true, "X_HTTP_METHOD_OVERRIDE": true, "X-Http-Method": true, "X-Method-Override": true,
		"X-Original-Url": true, "X_Original_URL": true, "X-Rewrite-Url": true,
		"Ajwt": false, "Ajwtx-Agent": false, "X-Ajwt-Agent": false, "Content-Type": false, "X-Http-Methods": false,
		"Authorizations": false, "Accept": false, "X-Request-Id": false,
	} {
		if got := dropHeader(name); got != drop {
			t.Errorf("dropHeader(%q) = %v, want %v", name, got, drop)
		}
	}
}
