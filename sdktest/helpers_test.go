package sdktest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

func rpcSignForTest(secret, sts string) string {
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func acs3SignForTest(secret, sts string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(sts))
	return hex.EncodeToString(h.Sum(nil))
}
