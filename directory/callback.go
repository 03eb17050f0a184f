package directory

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// WeCom's receive-message crypto (wecom-directory.md §5, "加解密方案"): the app's Token signs, its
// EncodingAESKey encrypts. msg_signature = hex(sha1(sorted(token, timestamp, nonce, data))); the data
// is AES-256-CBC with IV = key[:16] over random(16) ‖ len(4, big-endian) ‖ msg ‖ receiveid, PKCS#7
// padded to a multiple of 32 bytes; for an in-house app the receiveid is the corp id.

// CallbackError is why a callback request was refused; Reason is the audit code.
type CallbackError struct{ Reason string }

func (e *CallbackError) Error() string { return "wecom callback refused: " + e.Reason }

// Reasons a callback is refused. Every malformed input ends in one of these, never in a panic.
var (
	ErrBadAESKey     = &CallbackError{"bad_aes_key"}     // the EncodingAESKey is not 43 base64 characters of a 32-byte key
	ErrBadSignature  = &CallbackError{"bad_signature"}   // msg_signature does not match
	ErrBadBase64     = &CallbackError{"bad_base64"}      // the encrypted data is not base64
	ErrBadCiphertext = &CallbackError{"bad_ciphertext"}  // empty, or not a whole number of AES blocks
	ErrBadPadding    = &CallbackError{"bad_padding"}     // PKCS#7 padding (1..32) is wrong
	ErrShortPlain    = &CallbackError{"short_plaintext"} // fewer than 20 bytes after the padding
	ErrBadLength     = &CallbackError{"bad_length"}      // the message length runs past the end
	ErrWrongReceiver = &CallbackError{"wrong_corp"}      // the receiveid is not the authenticator's corp
	ErrBadXML        = &CallbackError{"malformed_xml"}   // the envelope or the event is not the expected XML
	ErrMissingParams = &CallbackError{"missing_params"}  // msg_signature, timestamp, nonce or echostr absent
)

// CallbackBlockSize is the padding block of WeCom's callback crypto (not AES's 16).
const CallbackBlockSize = 32

var (
	aesKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{43}$`)
	// tokenPattern: the Token is "any value the company chooses" and its length limit is unverified
	// (wecom-directory.md §5), so any printable ASCII without spaces, up to 128 characters (the
	// console's generator makes letters and digits).
	tokenPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// ValidEventToken tells whether token can be an app's 接收消息 Token.
func ValidEventToken(token string) bool { return tokenPattern.MatchString(token) }

// DecodeAESKey turns a 43-character EncodingAESKey into the 32-byte AES key (base64 of key + "=").
func DecodeAESKey(encodingAESKey string) ([]byte, error) {
	if !aesKeyPattern.MatchString(encodingAESKey) {
		return nil, ErrBadAESKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadAESKey
	}
	return key, nil
}

// CallbackCrypto signs, verifies, encrypts and decrypts the callbacks of one app.
type CallbackCrypto struct {
	token     string
	key       []byte
	block     cipher.Block
	receiveID string
}

// NewCallbackCrypto builds the crypto of an app: its Token, its EncodingAESKey and the receiveid the
// messages must carry (the corp id).
func NewCallbackCrypto(token, encodingAESKey, receiveID string) (*CallbackCrypto, error) {
	key, err := DecodeAESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrBadAESKey
	}
	return &CallbackCrypto{token: token, key: key, block: block, receiveID: receiveID}, nil
}

// Signature is msg_signature: the lowercase hex SHA-1 of the four values sorted bytewise and joined.
func Signature(token, timestamp, nonce, data string) string {
	parts := []string{token, timestamp, nonce, data}
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// checkSignature compares in constant time; hex case does not matter.
func (c *CallbackCrypto) checkSignature(sig, timestamp, nonce, data string) error {
	want := Signature(c.token, timestamp, nonce, data)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// VerifyURL answers WeCom's URL check: the signature over echostr (already URL-decoded), then the
// decrypted message, which is the whole reply body.
func (c *CallbackCrypto) VerifyURL(sig, timestamp, nonce, echostr string) ([]byte, error) {
	if sig == "" || timestamp == "" || nonce == "" || echostr == "" {
		return nil, ErrMissingParams
	}
	if err := c.checkSignature(sig, timestamp, nonce, echostr); err != nil {
		return nil, err
	}
	return c.Decrypt(echostr)
}

// Envelope is the XML body WeCom POSTs: the encrypted event and, for app callbacks, the agent id.
type Envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	AgentID    string   `xml:"AgentID"`
	Encrypt    string   `xml:"Encrypt"`
}

// DecryptPost verifies a POSTed callback (signature over the Encrypt element) and returns the
// decrypted message.
func (c *CallbackCrypto) DecryptPost(sig, timestamp, nonce string, body []byte) ([]byte, error) {
	if sig == "" || timestamp == "" || nonce == "" {
		return nil, ErrMissingParams
	}
	var env Envelope
	if err := xml.Unmarshal(body, &env); err != nil || strings.TrimSpace(env.Encrypt) == "" {
		return nil, ErrBadXML
	}
	enc := strings.TrimSpace(env.Encrypt)
	if err := c.checkSignature(sig, timestamp, nonce, enc); err != nil {
		return nil, err
	}
	return c.Decrypt(enc)
}

// Decrypt opens base64 data and returns the message, checking padding, length and receiveid.
func (c *CallbackCrypto) Decrypt(data string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, ErrBadBase64
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrBadCiphertext
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > CallbackBlockSize || pad > len(plain) {
		return nil, ErrBadPadding
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, ErrBadPadding
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, ErrShortPlain
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, ErrBadLength
	}
	msg, receiver := plain[20:20+n], plain[20+n:]
	if string(receiver) != c.receiveID {
		return nil, ErrWrongReceiver
	}
	return bytes.Clone(msg), nil
}

// Encrypt seals msg as WeCom does, with 16 random bytes (random: nil draws them; tests pass their own).
func (c *CallbackCrypto) Encrypt(msg, random []byte) (string, error) {
	if random == nil {
		random = make([]byte, 16)
		rand.Read(random)
	}
	if len(random) != 16 {
		return "", fmt.Errorf("callback encrypt: random must be 16 bytes, got %d", len(random))
	}
	plain := make([]byte, 0, 20+len(msg)+len(c.receiveID)+CallbackBlockSize)
	plain = append(plain, random...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.receiveID...)
	pad := CallbackBlockSize - len(plain)%CallbackBlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// EncryptPost builds what WeCom POSTs for msg: the XML envelope and its msg_signature.
func (c *CallbackCrypto) EncryptPost(msg []byte, timestamp, nonce, agentID string) (body []byte, sig string, err error) {
	enc, err := c.Encrypt(msg, nil)
	if err != nil {
		return nil, "", err
	}
	env := Envelope{ToUserName: c.receiveID, AgentID: agentID, Encrypt: enc}
	if body, err = xml.Marshal(env); err != nil {
		return nil, "", fmt.Errorf("callback envelope: %w", err)
	}
	return body, Signature(c.token, timestamp, nonce, enc), nil
}

// SignURLCheck builds the echostr and msg_signature of a URL check that must answer msg.
func (c *CallbackCrypto) SignURLCheck(msg []byte, timestamp, nonce string) (echostr, sig string, err error) {
	if echostr, err = c.Encrypt(msg, nil); err != nil {
		return "", "", err
	}
	return echostr, Signature(c.token, timestamp, nonce, echostr), nil
}

// Message is a decrypted callback message: the fields of the events Gatehouse acts on
// (wecom-directory.md §6). Values may or may not be CDATA-wrapped; encoding/xml reads both.
type Message struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	Event        string   `xml:"Event"`
	ChangeType   string   `xml:"ChangeType"`
	UserID       string   `xml:"UserID"`
	NewUserID    string   `xml:"NewUserID"`
	TagID        string   `xml:"TagId"`
	AddUserItems string   `xml:"AddUserItems"`
	DelUserItems string   `xml:"DelUserItems"`
	Status       string   `xml:"Status"`
	AgentID      string   `xml:"AgentID"`
}

// ParseMessage reads a decrypted message.
func ParseMessage(msg []byte) (Message, error) {
	var m Message
	if err := xml.Unmarshal(msg, &m); err != nil {
		return Message{}, ErrBadXML
	}
	for _, p := range []*string{&m.FromUserName, &m.MsgType, &m.Event, &m.ChangeType, &m.UserID, &m.NewUserID, &m.TagID, &m.AddUserItems, &m.DelUserItems, &m.Status} {
		*p = strings.TrimSpace(*p)
	}
	return m, nil
}
