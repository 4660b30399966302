package icebergtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigV4Key is the AWS key pair, region and service whose Signature Version
// 4 a server requires of every request (as S3 Tables' and Glue's Iceberg
// REST endpoints do).
type SigV4Key struct {
	AccessKeyID, SecretAccessKey string
	Region, Service              string
}

// verify recomputes r's signature over the headers it names as signed, its
// body's hash and its X-Amz-Date, and compares.
func (k *SigV4Key) verify(r *http.Request) error {
	const algorithm = "AWS4-HMAC-SHA256 "
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), algorithm)
	if !ok {
		return errors.New("not signed with AWS Signature Version 4")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[name] = value
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != k.AccessKeyID || scope[2] != k.Region || scope[3] != k.Service || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q, want %s/<date>/%s/%s/aws4_request", fields["Credential"], k.AccessKeyID, k.Region, k.Service)
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if got := r.Header.Get("X-Amz-Content-Sha256"); got != payload {
		return fmt.Errorf("X-Amz-Content-Sha256 %q is not the body's hash", got)
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	again.ContentLength = r.ContentLength
	creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, payload, k.Service, k.Region, at); err != nil {
		return err
	}
	if want := again.Header.Get("Authorization"); want != algorithm+auth {
		return fmt.Errorf("signature does not match: got %q, recomputed %q", algorithm+auth, want)
	}
	return nil
}
