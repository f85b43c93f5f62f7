package smbguard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// keys are the session's encryption keys, derived as go-smb2 derives them
// ([MS-SMB2] 3.1.4.2, 3.2.5.3.1): both directions, so the guard can read
// the headers of the requests go-smb2 encrypts and decrypt the replies.
type keys struct {
	in    cipher.AEAD  // server to client
	out   cipher.Block // client to server, for reading request headers
	gcm   bool
	nonce int
}

// sessionKeys derives the keys on first use.
func (s *state) sessionKeys(o Options) (*keys, error) {
	if s.keys != nil {
		return s.keys, nil
	}
	if !s.canEncrypt() {
		return nil, errors.New("smbguard: encryption on a session without encryption keys")
	}
	var sk []byte
	if o.SessionKey != nil {
		sk = o.SessionKey()
	}
	if len(sk) == 0 {
		return nil, errNoSessionKey
	}
	key := make([]byte, 16) // go-smb2's padSessionKey
	copy(key, sk)
	var inKey, outKey []byte
	gcm := false
	if s.dialect == dialect311 {
		inKey = kdf(key, []byte("SMBS2CCipherKey\x00"), s.preauth[:])
		outKey = kdf(key, []byte("SMBC2SCipherKey\x00"), s.preauth[:])
		gcm = s.cipher == cipherGCM
	} else {
		inKey = kdf(key, []byte("SMB2AESCCM\x00"), []byte("ServerOut\x00"))
		outKey = kdf(key, []byte("SMB2AESCCM\x00"), []byte("ServerIn \x00"))
	}
	inBlock, err := aes.NewCipher(inKey)
	if err != nil {
		return nil, err
	}
	outBlock, err := aes.NewCipher(outKey)
	if err != nil {
		return nil, err
	}
	k := &keys{out: outBlock, gcm: gcm}
	if gcm {
		k.nonce = 12
		k.in, err = cipher.NewGCMWithNonceSize(inBlock, 12)
		if err != nil {
			return nil, err
		}
	} else {
		k.nonce = 11
		k.in = newCCM(inBlock, 11, 16)
	}
	s.keys = k
	return k, nil
}

// open authenticates and decrypts a transform frame.
func (k *keys) open(f []byte) ([]byte, error) {
	ct := make([]byte, 0, len(f)-transformLen+16)
	ct = append(ct, f[transformLen:]...)
	ct = append(ct, f[4:20]...)
	return k.in.Open(ct[:0], f[20:20+k.nonce], ct, f[20:52])
}

// peekRequest decrypts, without authenticating, the first bytes of a
// request the client encrypted: GCM and CCM both encrypt with a counter
// mode, so the keystream of the first blocks is enough. keep holds the
// transform header and at least a message header.
func (k *keys) peekRequest(keep []byte) []byte {
	ct := keep[transformLen:]
	out := make([]byte, len(ct))
	var ctr, ks [16]byte
	nonce := keep[20 : 20+k.nonce]
	for i := 0; i*16 < len(ct); i++ {
		if k.gcm {
			copy(ctr[:], nonce)
			binary.BigEndian.PutUint32(ctr[12:], uint32(i+2))
		} else {
			ctr[0] = byte(15 - k.nonce - 1)
			copy(ctr[1:], nonce)
			binary.BigEndian.PutUint32(ctr[12:], uint32(i+1))
		}
		k.out.Encrypt(ks[:], ctr[:])
		subtle.XORBytes(out[i*16:], ct[i*16:min(len(ct), i*16+16)], ks[:])
	}
	return out
}

// kdf is SP800-108 in counter mode with HMAC-SHA256, L = 128 ([MS-SMB2]
// 3.1.4.2).
func kdf(key, label, context []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte{0, 0, 0, 1})
	h.Write(label)
	h.Write([]byte{0})
	h.Write(context)
	h.Write([]byte{0, 0, 0, 0x80})
	return h.Sum(nil)[:16]
}

// ccm is AES-CCM ([NIST SP 800-38C], RFC 3610), which the standard library
// lacks; SMB 3.0 and 3.0.2 encrypt with it, with an 11-byte nonce and a
// 16-byte tag.
type ccm struct {
	b     cipher.Block
	nonce int
	tag   int
}

func newCCM(b cipher.Block, nonceSize, tagSize int) cipher.AEAD {
	return &ccm{b: b, nonce: nonceSize, tag: tagSize}
}

func (c *ccm) NonceSize() int { return c.nonce }
func (c *ccm) Overhead() int  { return c.tag }

// counter returns counter block i.
func (c *ccm) counter(nonce []byte, i uint64) [16]byte {
	var a [16]byte
	q := 15 - c.nonce
	a[0] = byte(q - 1)
	copy(a[1:], nonce)
	for j := 15; j > c.nonce && i > 0; j-- {
		a[j] = byte(i)
		i >>= 8
	}
	return a
}

// xorStream XORs src with the keystream from counter block 1 into dst.
func (c *ccm) xorStream(dst, src, nonce []byte) {
	var ks [16]byte
	for i := 0; i*16 < len(src); i++ {
		a := c.counter(nonce, uint64(i+1))
		c.b.Encrypt(ks[:], a[:])
		subtle.XORBytes(dst[i*16:], src[i*16:min(len(src), i*16+16)], ks[:])
	}
}

// mac returns the CBC-MAC of the formatted nonce, data and plaintext,
// encrypted with counter block 0.
func (c *ccm) mac(nonce, plain, data []byte) []byte {
	var x, blk [16]byte
	q := 15 - c.nonce
	blk[0] = byte((c.tag-2)/2<<3 | (q - 1))
	if len(data) > 0 {
		blk[0] |= 0x40
	}
	copy(blk[1:], nonce)
	n := uint64(len(plain))
	for j := 15; j > c.nonce; j-- {
		blk[j] = byte(n)
		n >>= 8
	}
	c.b.Encrypt(x[:], blk[:])
	absorb := func(b []byte) {
		for len(b) > 0 {
			// A short last block leaves the rest of x as it is: zero padding.
			k := subtle.XORBytes(x[:], x[:], b[:min(16, len(b))])
			c.b.Encrypt(x[:], x[:])
			b = b[k:]
		}
	}
	if len(data) > 0 {
		hdr := []byte{byte(len(data) >> 8), byte(len(data))}
		ad := append(hdr, data...)
		absorb(ad)
	}
	absorb(plain)
	a0 := c.counter(nonce, 0)
	var s0 [16]byte
	c.b.Encrypt(s0[:], a0[:])
	subtle.XORBytes(x[:], x[:], s0[:])
	return x[:c.tag]
}

func (c *ccm) Seal(dst, nonce, plain, data []byte) []byte {
	if len(nonce) != c.nonce || len(data) >= 0xFF00 {
		panic("smbguard: ccm: bad nonce or additional data size")
	}
	tag := c.mac(nonce, plain, data)
	ret, out := sliceForAppend(dst, len(plain)+c.tag)
	c.xorStream(out, plain, nonce)
	copy(out[len(plain):], tag)
	return ret
}

var errOpen = errors.New("message authentication failed")

func (c *ccm) Open(dst, nonce, ct, data []byte) ([]byte, error) {
	if len(nonce) != c.nonce || len(ct) < c.tag || len(data) >= 0xFF00 {
		return nil, errOpen
	}
	tag := ct[len(ct)-c.tag:]
	ct = ct[:len(ct)-c.tag]
	plain := make([]byte, len(ct))
	c.xorStream(plain, ct, nonce)
	if subtle.ConstantTimeCompare(c.mac(nonce, plain, data), tag) != 1 {
		return nil, errOpen
	}
	ret, out := sliceForAppend(dst, len(plain))
	copy(out, plain)
	return ret, nil
}

func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
