package directory_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"

	"gatehouse/directory"
)

// The worked example of wecom-directory.md: WeCom's official sample values.
const (
	sampleToken = "QDG6eK"
	sampleCorp  = "wx5823bf96d3bd56c7"
	sampleKey   = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

func sampleCrypto(t testing.TB, corp string) *directory.CallbackCrypto {
	t.Helper()
	c, err := directory.NewCallbackCrypto(sampleToken, sampleKey, corp)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCallbackAESKey(t *testing.T) {
	key, err := directory.DecodeAESKey(sampleKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(key); got != "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760" {
		t.Fatalf("AES key = %s", got)
	}
	for _, bad := range []string{"", sampleKey[:42], sampleKey + "A", sampleKey[:42] + "=", sampleKey[:42] + "+", sampleKey[:42] + "/", strings.Repeat("é", 43)} {
		if _, err := directory.DecodeAESKey(bad); !errors.Is(err, directory.ErrBadAESKey) {
			t.Errorf("DecodeAESKey(%q) = %v, want ErrBadAESKey", bad, err)
		}
	}
}

// TestSecurityEventsCryptoVectors checks every worked vector of the facts file: A (URL check), B
// (event POST), C (wechatpy's deterministic encryption and echostr) and D (this project's vectors).
func TestSecurityEventsCryptoVectors(t *testing.T) {
	t.Run("A URL check", func(t *testing.T) {
		q, err := url.ParseQuery("msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D")
		if err != nil {
			t.Fatal(err)
		}
		got, err := sampleCrypto(t, sampleCorp).VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
		if err != nil || string(got) != "1616140317555161061" {
			t.Fatalf("VerifyURL = %q, %v", got, err)
		}
		// Still %-encoded, or another signature: refused.
		raw := "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
		if _, err := sampleCrypto(t, sampleCorp).VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), raw); !errors.Is(err, directory.ErrBadSignature) {
			t.Errorf("undecoded echostr: %v", err)
		}
		if _, err := sampleCrypto(t, sampleCorp).VerifyURL("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", q.Get("timestamp"), q.Get("nonce"), q.Get("echostr")); !errors.Is(err, directory.ErrBadSignature) {
			t.Errorf("other signature: %v", err)
		}
	})
	t.Run("B event POST", func(t *testing.T) {
		body := `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>`
		got, err := sampleCrypto(t, sampleCorp).DecryptPost("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", []byte(body))
		want := "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
		if err != nil || string(got) != want {
			t.Fatalf("DecryptPost = %q, %v", got, err)
		}
		m, err := directory.ParseMessage(got)
		if err != nil || m.FromUserName != "mycreate" || m.CreateTime != 1409659813 || m.MsgType != "text" {
			t.Fatalf("ParseMessage = %+v, %v", m, err)
		}
		// The signature covers timestamp and nonce as well.
		if _, err := sampleCrypto(t, sampleCorp).DecryptPost("477715d11cdb4164915debcba66cb864d751f3e6", "1409659814", "1372623149", []byte(body)); !errors.Is(err, directory.ErrBadSignature) {
			t.Errorf("other timestamp: %v", err)
		}
	})
	t.Run("C deterministic encryption", func(t *testing.T) {
		c, err := directory.NewCallbackCrypto("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.VerifyURL("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==")
		if err != nil || string(got) != "5927782489442352469" {
			t.Fatalf("VerifyURL = %q, %v", got, err)
		}
		enc := "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
		if sig := directory.Signature("123456", "1411525903", "461056294", enc); sig != "407518b7649e86ef23978113f92d27afa9296533" {
			t.Errorf("signature = %s", sig)
		}
		msg, err := c.Decrypt(enc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Encrypt(msg, []byte("1234567890123456"))
		if err != nil || again != enc {
			t.Fatalf("Encrypt with the sample's random = %q, %v; want the sample's Encrypt", again, err)
		}
	})
	t.Run("D project vectors", func(t *testing.T) {
		c := sampleCrypto(t, sampleCorp)
		for _, v := range []struct{ name, plain, enc, sig string }{
			{"unsubscribe", `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event><AgentID>1000002</AgentID></xml>`,
				"sKqRbbiSUnDhFHOvPjtUMenPyrfnV5RAYWBu/b6HKoZtHj1YOb9dr5tNgwnk3XXtqTOEfwGJGoIliPHXVPXXc8MIe60r18JZHswlS2secrV72seITwNM/lyM3rcx60KqBuBTzUxe8LkTuTbE3Orf9ZkBBBfjrHMPHVjrGMLzkwortaCIaJYiFBSx745LYODGf9p/BmSGEY/cJuKwTKLilL64CBjHiyCsqRS4kL+qGm+N6VF1N/DGS21R948c6Vz+3WcwVV1krZRMRvWft0aiThiqyhAlzdT0LNG+wDG+e9UWP2b/p4PmDGQCiQ0VLz2xEs6WhFN3V5PL1FOgdIZeh2Mvyz0Bw/g6Be/PU0uI1DFA4T0EMrIRMZFbnQRG/a9HB9hGzasIXyf35mVJZd2v1RPVB1ldj1tPUZxJzJhuG14=",
				"5d75eb4a87f14bf2da018ee686e05be99300321a"},
			{"delete_user", `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[delete_user]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID></xml>`,
				"sKqRbbiSUnDhFHOvPjtUMR6+2xlrtluq9CNw6NqzXYHX2Wgq7/f0368VcTgB/wzMV4YdTe+izyWlfsLQg9m3FrUg60CH4DO2G740kM6E5VvBRs3E2gKqIMhFpPI3acqrFpVaBLgPmKzzLcIGIgkdYAjDKH1qcExjJvmnd1nV/Vtm1fZyG9GxHFlmHKBNv/ZDdVJxHCP5ju5dtvxKKLdqppZNUcdijKbllFhnLT9m++UtzQEkWv2JikuczYAug4co3v+WklfIsRBmp6vy7/cBlFXTaL5QUndcf1UaJYGap2Fc+YDvI4MtT3p/eACKRAXImCoigTdADbKGrdBaMzthPX4oC5j8q1d1SUnlmqq/M0W2EwZ2ERfJI6J0b/d5FCX9ZFSJ7fRs/ltVLO3Qi5ilBpejNiQz1oC6MVTiSND0OcRZTR9V+2363rfRy5eYNCED2rcROGjhp/pO1rMVmQgCaA==",
				"572f5e4ebad20c0f9f96daa0d7ef9b8add76b8a0"},
		} {
			t.Run(v.name, func(t *testing.T) {
				body := "<xml><ToUserName>" + sampleCorp + "</ToUserName><Encrypt><![CDATA[" + v.enc + "]]></Encrypt></xml>"
				got, err := c.DecryptPost(v.sig, "1700000000", "1234567890", []byte(body))
				if err != nil || string(got) != v.plain {
					t.Fatalf("DecryptPost = %q, %v", got, err)
				}
				if again, _ := c.Encrypt(got, []byte("0123456789abcdef")); again != v.enc {
					t.Errorf("Encrypt = %s, want the vector", again)
				}
				m, err := directory.ParseMessage(got)
				if err != nil || m.CreateTime != 1700000000 || m.MsgType != "event" {
					t.Fatalf("ParseMessage = %+v, %v", m, err)
				}
				if v.name == "unsubscribe" && (m.Event != "unsubscribe" || m.FromUserName != "zhangsan" || m.AgentID != "1000002") {
					t.Errorf("unsubscribe = %+v", m)
				}
				if v.name == "delete_user" && (m.Event != "change_contact" || m.ChangeType != "delete_user" || m.UserID != "zhangsan") {
					t.Errorf("delete_user = %+v", m)
				}
			})
		}
		got, err := c.VerifyURL("fb3c5d21d202266ec72ccada52ce546b657196a4", "1700000000", "1234567890", "sKqRbbiSUnDhFHOvPjtUMYguiPf6drkqceuHPwGP2gDEJo3aRa/ayfTOGn0X1Tol4OXyyh0p3PmGD4LMux8Uyg==")
		if err != nil || string(got) != "5927782489442352469" {
			t.Fatalf("URL check = %q, %v", got, err)
		}
		// A valid signature over a message for another corp: only the receiveid check refuses it.
		wrong := "sKqRbbiSUnDhFHOvPjtUMTuJ54G+cXTThHsK1Nj0SlNW64wSSLqo/nN3zN6ctoQnCNOLid8iZTO7Rl7A/9ga6w=="
		body := "<xml><Encrypt>" + wrong + "</Encrypt></xml>"
		if _, err := c.DecryptPost("dffacaf55691d2c0159ecffee1a509ea89eab6c5", "1700000000", "1234567890", []byte(body)); !errors.Is(err, directory.ErrWrongReceiver) {
			t.Errorf("wrong corp: %v", err)
		}
		if got, err := sampleCrypto(t, "ww0000000000000000").Decrypt(wrong); err != nil || string(got) != "hello" {
			t.Errorf("for its own corp = %q, %v", got, err)
		}
	})
}

// rawEncrypt encrypts an arbitrary padded plaintext with the sample key, to build malformed inputs.
func rawEncrypt(t testing.TB, plain []byte) string {
	t.Helper()
	key, _ := directory.DecodeAESKey(sampleKey)
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

func pad32(b []byte) []byte {
	n := 32 - len(b)%32
	return append(b, []byte(strings.Repeat(string(rune(n)), n))...)
}

func layout(random string, length uint32, msg, receiver string) []byte {
	b := []byte(random)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(append(b, msg...), receiver...)
}

// TestSecurityEventsCryptoMalformed: every malformed input ends in its typed error, never a panic.
func TestSecurityEventsCryptoMalformed(t *testing.T) {
	c := sampleCrypto(t, sampleCorp)
	badPad := layout("0123456789abcdef", 5, "hello", sampleCorp) // 39 bytes
	badPad = append(badPad, make([]byte, 64-len(badPad))...)
	badPad[63] = 40 // > 32
	wrongBytes := pad32(layout("0123456789abcdef", 5, "hello", sampleCorp))
	wrongBytes[len(wrongBytes)-2] ^= 1 // padding bytes that disagree
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"bad base64", "not base64!!", directory.ErrBadBase64},
		{"empty", "", directory.ErrBadCiphertext},
		{"not whole blocks", base64.StdEncoding.EncodeToString(make([]byte, 17)), directory.ErrBadCiphertext},
		{"pad over 32", rawEncrypt(t, badPad), directory.ErrBadPadding},
		{"pad zero", rawEncrypt(t, make([]byte, 32)), directory.ErrBadPadding},
		{"pad bytes differ", rawEncrypt(t, wrongBytes), directory.ErrBadPadding},
		{"short plaintext", rawEncrypt(t, pad32([]byte("0123456789abcdef12"))), directory.ErrShortPlain},
		{"length past end", rawEncrypt(t, pad32(layout("0123456789abcdef", 500, "hello", sampleCorp))), directory.ErrBadLength},
		{"length max", rawEncrypt(t, pad32(layout("0123456789abcdef", 0xffffffff, "hello", sampleCorp))), directory.ErrBadLength},
		{"wrong receiveid", rawEncrypt(t, pad32(layout("0123456789abcdef", 5, "hello", "ww0000000000000000"))), directory.ErrWrongReceiver},
		{"receiveid cut", rawEncrypt(t, pad32(layout("0123456789abcdef", 5, "hello", sampleCorp[:10]))), directory.ErrWrongReceiver},
		{"no receiveid", rawEncrypt(t, pad32(layout("0123456789abcdef", 5, "hello", ""))), directory.ErrWrongReceiver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Decrypt(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("Decrypt = %v, want %v", err, tc.want)
			}
		})
	}
	if got, err := c.Decrypt(rawEncrypt(t, pad32(layout("0123456789abcdef", 5, "hello", sampleCorp)))); err != nil || string(got) != "hello" {
		t.Fatalf("well-formed = %q, %v", got, err)
	}
	enc, _ := c.Encrypt([]byte("hello"), nil)
	sig := directory.Signature(sampleToken, "1", "2", enc)
	for _, tc := range []struct {
		name, sig, body string
		want            error
	}{
		{"malformed XML", sig, "<xml><Encrypt>" + enc, directory.ErrBadXML},
		{"not XML", sig, "{\"encrypt\":\"" + enc + "\"}", directory.ErrBadXML},
		{"no Encrypt", sig, "<xml><ToUserName>x</ToUserName></xml>", directory.ErrBadXML},
		{"other root", sig, "<msg><Encrypt>" + enc + "</Encrypt></msg>", directory.ErrBadXML},
		{"wrong signature", strings.Repeat("0", 40), "<xml><Encrypt>" + enc + "</Encrypt></xml>", directory.ErrBadSignature},
		{"no signature", "", "<xml><Encrypt>" + enc + "</Encrypt></xml>", directory.ErrMissingParams},
		{"entity", sig, "<!DOCTYPE xml [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><Encrypt>&e;</Encrypt></xml>", directory.ErrBadXML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.DecryptPost(tc.sig, "1", "2", []byte(tc.body)); !errors.Is(err, tc.want) {
				t.Fatalf("DecryptPost = %v, want %v", err, tc.want)
			}
		})
	}
	if got, err := c.DecryptPost(strings.ToUpper(sig), "1", "2", []byte("<xml><Encrypt>"+enc+"</Encrypt></xml>")); err != nil || string(got) != "hello" {
		t.Fatalf("well-formed POST = %q, %v", got, err)
	}
	if _, err := c.VerifyURL("", "1", "2", enc); !errors.Is(err, directory.ErrMissingParams) {
		t.Errorf("URL check without signature: %v", err)
	}
	if _, err := directory.ParseMessage([]byte("<xml><CreateTime>soon</CreateTime></xml>")); !errors.Is(err, directory.ErrBadXML) {
		t.Errorf("ParseMessage with a bad CreateTime: %v", err)
	}
}

func TestEventTokenRule(t *testing.T) {
	for tok, ok := range map[string]bool{"QDG6eK": true, "a": true, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
		"": false, "has space": false, "tab\t": false, "中文": false, "a-b_c.d": true} {
		if directory.ValidEventToken(tok) != ok {
			t.Errorf("ValidEventToken(%q) = %v", tok, !ok)
		}
	}
}

// FuzzCallbackDecrypt: whatever arrives, decrypting returns a message or a typed error, never a panic,
// and what Encrypt seals always opens again.
func FuzzCallbackDecrypt(f *testing.F) {
	c := sampleCrypto(f, sampleCorp)
	f.Add("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==", []byte("<xml><Encrypt>x</Encrypt></xml>"))
	f.Add("", []byte(""))
	f.Add("AAAA", []byte("<xml>"))
	f.Fuzz(func(t *testing.T, data string, body []byte) {
		if msg, err := c.Decrypt(data); err != nil {
			var ce *directory.CallbackError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error %v", err)
			}
		} else if _, err := directory.ParseMessage(msg); err != nil && !errors.Is(err, directory.ErrBadXML) {
			t.Fatalf("ParseMessage: %v", err)
		}
		if _, err := c.DecryptPost("0", "1", "2", body); err != nil {
			var ce *directory.CallbackError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error %v", err)
			}
		}
		enc, err := c.Encrypt([]byte(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Decrypt(enc); err != nil || string(got) != data {
			t.Fatalf("round trip = %q, %v", got, err)
		}
	})
}
