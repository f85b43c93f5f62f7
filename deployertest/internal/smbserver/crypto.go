package smbserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// kdf is the SP800-108 counter-mode KDF with HMAC-SHA256, r=32, L=128 that
// [MS-SMB2] 3.1.4.2 uses; label and context include their terminating NULs.
func kdf(key, label, context []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte{0, 0, 0, 1})
	h.Write(label)
	h.Write([]byte{0})
	h.Write(context)
	h.Write([]byte{0, 0, 0, 0x80})
	return h.Sum(nil)[:16]
}

// cmac computes AES-CMAC (RFC 4493) of msg with block cipher c. The
// complete blocks before the last go through the cipher's CBC mode, which
// is much faster than one Encrypt call per block.
func cmac(c cipher.Block, msg []byte) [16]byte {
	var l, k1, k2 [16]byte
	c.Encrypt(l[:], l[:])
	shiftXor(k1[:], l[:])
	shiftXor(k2[:], k1[:])
	n := (len(msg) + 15) / 16
	complete := n > 0 && len(msg)%16 == 0
	if n == 0 {
		n = 1
	}
	var last [16]byte
	tail := msg[(n-1)*16:]
	if complete {
		for i := range last {
			last[i] = tail[i] ^ k1[i]
		}
	} else {
		copy(last[:], tail)
		last[len(tail)] = 0x80
		for i := range last {
			last[i] ^= k2[i]
		}
	}
	var x [16]byte
	if head := msg[:(n-1)*16]; len(head) > 0 {
		cbc := cipher.NewCBCEncrypter(c, x[:])
		var scratch [4096]byte
		for len(head) > 0 {
			m := min(len(head), len(scratch))
			cbc.CryptBlocks(scratch[:m], head[:m])
			copy(x[:], scratch[m-16:m])
			head = head[m:]
		}
	}
	for j := range x {
		x[j] ^= last[j]
	}
	c.Encrypt(x[:], x[:])
	return x
}

func shiftXor(dst, src []byte) {
	carry := src[0] >> 7
	for i := 0; i < 15; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[15] = src[15] << 1
	if carry != 0 {
		dst[15] ^= 0x87
	}
}

// ccm implements AES-CCM (RFC 3610) with a 16-byte tag, as cipher.AEAD.
type ccm struct {
	b        cipher.Block
	nonceLen int
}

func newCCM(b cipher.Block, nonceLen int) cipher.AEAD { return &ccm{b: b, nonceLen: nonceLen} }

func (c *ccm) NonceSize() int { return c.nonceLen }
func (c *ccm) Overhead() int  { return 16 }

func (c *ccm) mac(nonce, plain, aad []byte) [16]byte {
	L := 15 - len(nonce)
	var b0 [16]byte
	flags := byte(((16 - 2) / 2) << 3)
	if len(aad) > 0 {
		flags |= 0x40
	}
	flags |= byte(L - 1)
	b0[0] = flags
	copy(b0[1:], nonce)
	n := len(plain)
	for i := 15; i > 15-L; i-- {
		b0[i] = byte(n)
		n >>= 8
	}
	var x [16]byte
	c.b.Encrypt(x[:], b0[:])
	block := func(p []byte) {
		for i := 0; i < 16 && i < len(p); i++ {
			x[i] ^= p[i]
		}
		c.b.Encrypt(x[:], x[:])
	}
	if len(aad) > 0 {
		// aad shorter than 0xFF00 bytes: 2-byte length prefix.
		buf := make([]byte, 2+len(aad))
		buf[0] = byte(len(aad) >> 8)
		buf[1] = byte(len(aad))
		copy(buf[2:], aad)
		for len(buf) > 0 {
			m := min(16, len(buf))
			block(buf[:m])
			buf = buf[m:]
		}
	}
	for p := plain; len(p) > 0; {
		m := min(16, len(p))
		block(p[:m])
		p = p[m:]
	}
	return x
}

func (c *ccm) ctr(nonce []byte, ctr uint32) [16]byte {
	var a [16]byte
	L := 15 - len(nonce)
	a[0] = byte(L - 1)
	copy(a[1:], nonce)
	for i := 15; i > 15-L && ctr > 0; i-- {
		a[i] = byte(ctr)
		ctr >>= 8
	}
	return a
}

func (c *ccm) xorStream(nonce, dst, src []byte) {
	var ks [16]byte
	for i := 0; i < len(src); i += 16 {
		a := c.ctr(nonce, uint32(i/16+1))
		c.b.Encrypt(ks[:], a[:])
		for j := i; j < i+16 && j < len(src); j++ {
			dst[j] = src[j] ^ ks[j-i]
		}
	}
}

func (c *ccm) Seal(dst, nonce, plaintext, aad []byte) []byte {
	tag := c.mac(nonce, plaintext, aad)
	a0 := c.ctr(nonce, 0)
	var s0 [16]byte
	c.b.Encrypt(s0[:], a0[:])
	out := make([]byte, len(plaintext)+16)
	c.xorStream(nonce, out, plaintext)
	for i := range 16 {
		out[len(plaintext)+i] = tag[i] ^ s0[i]
	}
	return append(dst, out...)
}

var errOpen = errors.New("smbserver: message authentication failed")

func (c *ccm) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < 16 {
		return nil, errOpen
	}
	body := ciphertext[:len(ciphertext)-16]
	plain := make([]byte, len(body))
	c.xorStream(nonce, plain, body)
	tag := c.mac(nonce, plain, aad)
	a0 := c.ctr(nonce, 0)
	var s0 [16]byte
	c.b.Encrypt(s0[:], a0[:])
	for i := range 16 {
		tag[i] ^= s0[i]
	}
	if subtle.ConstantTimeCompare(tag[:], ciphertext[len(body):]) != 1 {
		return nil, errOpen
	}
	return append(dst, plain...), nil
}

// Cipher identifiers ([MS-SMB2] 2.2.3.1.2).
const (
	cipherAES128CCM uint16 = 0x0001
	cipherAES128GCM uint16 = 0x0002
)

// Signing algorithm identifiers ([MS-SMB2] 2.2.3.1.7).
const (
	signHMACSHA256 uint16 = 0x0000
	signAESCMAC    uint16 = 0x0001
)

// newAEAD builds the AEAD for cipher id with key.
func newAEAD(id uint16, key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if id == cipherAES128GCM {
		return cipher.NewGCM(b)
	}
	return newCCM(b, 11), nil
}

// signer computes SMB2 message signatures.
type signer struct {
	alg  uint16
	key  []byte
	aesb cipher.Block
}

func newSigner(alg uint16, key []byte) (*signer, error) {
	s := &signer{alg: alg, key: key}
	if alg == signAESCMAC {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		s.aesb = b
	}
	return s, nil
}

// compute returns the signature of msg computed with its signature field
// zeroed; msg is restored before returning.
func (s *signer) compute(msg []byte) [16]byte {
	var saved [16]byte
	copy(saved[:], msg[48:64])
	clear(msg[48:64])
	defer copy(msg[48:64], saved[:])
	if s.alg == signAESCMAC {
		return cmac(s.aesb, msg)
	}
	var out [16]byte
	h := hmac.New(sha256.New, s.key)
	h.Write(msg)
	copy(out[:], h.Sum(nil))
	return out
}

// sign sets the SIGNED flag and the signature of msg in place.
func (s *signer) sign(msg []byte) {
	le.PutUint32(msg[16:], le.Uint32(msg[16:])|flagSigned)
	sig := s.compute(msg)
	copy(msg[48:64], sig[:])
}

// verify reports whether msg carries a valid signature.
func (s *signer) verify(msg []byte) bool {
	sig := s.compute(msg)
	return hmac.Equal(sig[:], msg[48:64])
}
