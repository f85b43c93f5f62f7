package smbserver

import (
	"github.com/nxdeploy/deployer/deployertest/internal/utf16le"
	"os"
	"strings"
	"sync"
)

const shareFlagEncrypt uint32 = 0x00008000

// tree is a tree connect ([MS-SMB2] 3.3.1.10).
type tree struct {
	id      uint32
	share   *Share
	encrypt bool

	mu   sync.Mutex
	root *os.Root
}

func (t *tree) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.root != nil {
		_ = t.root.Close()
		t.root = nil
	}
}

// treeConnect handles TREE_CONNECT ([MS-SMB2] 3.3.5.7).
func (c *conn) treeConnect(r *request) response {
	b := r.body
	if len(b) < 8 {
		return errResp(StatusInvalidParameter)
	}
	p, ok := bodyBuf(b, uint32(le.Uint16(b[4:])), uint32(le.Uint16(b[6:])))
	if !ok {
		return errResp(StatusInvalidParameter)
	}
	path := utf16le.Decode(p)
	name := path
	if i := strings.LastIndex(path, `\`); i >= 0 {
		name = path[i+1:]
	}
	sh := c.srv.shares[strings.ToUpper(name)]
	if sh == nil {
		return errResp(StatusBadNetworkName)
	}
	ss := r.sess
	if sh.AdminOnly && (!ss.admin || ss.guest) {
		return errResp(StatusAccessDenied)
	}
	c.mu.Lock()
	dialect := c.dialect
	c.mu.Unlock()
	t := &tree{share: sh, encrypt: sh.EncryptData || c.srv.cfg.RequireEncryption}
	if t.encrypt && (dialect < Dialect300 || ss.enc == nil) {
		return errResp(StatusAccessDenied)
	}
	if sh.Type == ShareDisk {
		root, err := os.OpenRoot(sh.Path)
		if err != nil {
			return errResp(StatusBadNetworkName)
		}
		t.root = root
	}
	c.mu.Lock()
	ss.nextTree++
	t.id = ss.nextTree
	ss.trees[t.id] = t
	c.mu.Unlock()
	r.hdr.TreeID = t.id
	body := make([]byte, 16)
	le.PutUint16(body, 16)
	var flags uint32
	if sh.Type == ShareDisk {
		body[2] = 1
	} else {
		body[2] = 2
		flags = 0x30
	}
	if t.encrypt {
		flags |= shareFlagEncrypt
	}
	le.PutUint32(body[4:], flags)
	le.PutUint32(body[12:], 0x001F01FF)
	return response{body: body}
}

// treeDisconnect handles TREE_DISCONNECT ([MS-SMB2] 3.3.5.8).
func (c *conn) treeDisconnect(r *request) response {
	t := r.tree
	c.mu.Lock()
	delete(r.sess.trees, t.id)
	var opens []*open
	for id, o := range c.opens {
		if o.tree == t {
			opens = append(opens, o)
			delete(c.opens, id)
		}
	}
	c.mu.Unlock()
	for _, o := range opens {
		c.closeOpen(o)
	}
	t.close()
	return response{body: fixed(4, 4)}
}
