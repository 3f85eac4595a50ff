package keys_test

import (
	"bytes"
	"fmt"

	"github.com/ajwt/ajwt/keys"
)

// An agent's proof key is derived from the shim's master secret and the
// agent's checksum: the same inputs always give the same key.
func ExampleDeriveAgentKey() {
	master := bytes.Repeat([]byte{0x42}, 32) // in practice: keys.LoadMasterSecretFile
	sum := "sha256:43da56d0a6916e19a2f7a04a18bc24a6824e4161ebd42a5876938f7bee1ad742"
	priv, err := keys.DeriveAgentKey(master, "patcher", sum)
	if err != nil {
		panic(err)
	}
	signer, _ := keys.NewSigner(priv, keys.EdDSA, "")
	again, _ := keys.DeriveAgentKey(master, "patcher", sum)
	fmt.Println(signer.Alg(), len(signer.Thumbprint()), priv.Equal(again))
	// Output: EdDSA 43 true
}

// An issuer key is generated once, stored as PKCS#8 PEM and published as a
// public JWK.
func ExampleGenerate() {
	signer, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		panic(err)
	}
	pemBytes, _ := keys.MarshalPrivatePEM(signer.CryptoSigner())
	jwk, _ := keys.MarshalPublicJWK(signer.CryptoSigner(), signer.KeyID())
	pub, _ := keys.ParsePublicJWK(jwk)
	fmt.Println(bytes.HasPrefix(pemBytes, []byte("-----BEGIN PRIVATE KEY-----")), pub.KeyID == signer.KeyID(), pub.IsPublic())
	// Output: true true true
}
