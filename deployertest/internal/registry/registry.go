// Package registry models the part of an emulated Windows host's registry
// that the deployer and the tools it is checked with read over
// \pipe\winreg: HKEY_LOCAL_MACHINE's keys and values, with the Uninstall
// keys in which Windows Installer records the products it installed
// (DisplayName, DisplayVersion, Version, Publisher, WindowsInstaller, ...).
//
// Key names match in any case and keep the case they were created with, as
// Windows' do. It is safe for concurrent use.
package registry

import (
	"encoding/binary"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Value types ([MS-RRP] 3.1.1.5).
const (
	String       uint32 = 1 // REG_SZ
	ExpandString uint32 = 2 // REG_EXPAND_SZ
	Binary       uint32 = 3 // REG_BINARY
	Dword        uint32 = 4 // REG_DWORD
	MultiString  uint32 = 7 // REG_MULTI_SZ
	Qword        uint32 = 11
)

// Where Windows lists installed products (under HKEY_LOCAL_MACHINE).
const (
	UninstallKey   = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	UninstallKey32 = `SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`
)

// Value is one named value of a key.
type Value struct {
	Name string
	Type uint32
	Data []byte
}

// StringValue returns a REG_SZ value of s (UTF-16LE with its NUL).
func StringValue(name, s string) Value {
	u := utf16.Encode([]rune(s + "\x00"))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return Value{Name: name, Type: String, Data: b}
}

// DwordValue returns a REG_DWORD value.
func DwordValue(name string, n uint32) Value {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, n)
	return Value{Name: name, Type: Dword, Data: b}
}

// Key is a snapshot of one key.
type Key struct {
	// Name is the key's own name, as created.
	Name string
	// Subkeys are the names of its subkeys, sorted case-insensitively as
	// Windows enumerates them.
	Subkeys []string
	// Values are its values in the order they were first set.
	Values []Value
	// Modified is when a value or a subkey last changed.
	Modified time.Time
}

type node struct {
	name     string
	subkeys  map[string]*node // by lower-case name
	values   []Value
	modified time.Time
}

func newNode(name string) *node {
	return &node{name: name, subkeys: map[string]*node{}, modified: time.Now().UTC()}
}

// Registry is one host's HKEY_LOCAL_MACHINE.
type Registry struct {
	mu   sync.Mutex
	root *node
}

// New returns a registry with the keys every Windows host has on the paths
// the deployer reads: both Uninstall keys, empty.
func New() *Registry {
	r := &Registry{root: newNode("HKEY_LOCAL_MACHINE")}
	r.CreateKey(UninstallKey)
	r.CreateKey(UninstallKey32)
	r.SetValues(`SOFTWARE\Microsoft\Windows NT\CurrentVersion`, StringValue("ProductName", "Windows 10 Pro"),
		StringValue("CurrentVersion", "6.3"), StringValue("CurrentBuildNumber", "19045"))
	return r
}

func split(path string) []string {
	var out []string
	for _, p := range strings.Split(path, `\`) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// find returns the node at path, or nil; with create it makes the missing
// keys. r.mu is held.
func (r *Registry) find(path string, create bool) *node {
	n := r.root
	for _, p := range split(path) {
		c := n.subkeys[strings.ToLower(p)]
		if c == nil {
			if !create {
				return nil
			}
			c = newNode(p)
			n.subkeys[strings.ToLower(p)] = c
			n.modified = time.Now().UTC()
		}
		n = c
	}
	return n
}

// CreateKey makes the key at path and the keys above it.
func (r *Registry) CreateKey(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.find(path, true)
}

// SetValues creates the key at path if needed and sets values on it,
// replacing values of the same names (in any case).
func (r *Registry) SetValues(path string, values ...Value) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(path, true)
	for _, v := range values {
		v.Data = append([]byte(nil), v.Data...)
		replaced := false
		for i := range n.values {
			if strings.EqualFold(n.values[i].Name, v.Name) {
				n.values[i], replaced = v, true
			}
		}
		if !replaced {
			n.values = append(n.values, v)
		}
	}
	n.modified = time.Now().UTC()
}

// DeleteKey removes the key at path and everything under it; false when
// there was none.
func (r *Registry) DeleteKey(path string) bool {
	parts := split(path)
	if len(parts) == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	parent := r.find(strings.Join(parts[:len(parts)-1], `\`), false)
	last := strings.ToLower(parts[len(parts)-1])
	if parent == nil || parent.subkeys[last] == nil {
		return false
	}
	delete(parent.subkeys, last)
	parent.modified = time.Now().UTC()
	return true
}

// Lookup returns a snapshot of the key at path ("" is HKEY_LOCAL_MACHINE).
func (r *Registry) Lookup(path string) (Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(path, false)
	if n == nil {
		return Key{}, false
	}
	k := Key{Name: n.name, Modified: n.modified}
	for _, c := range n.subkeys {
		k.Subkeys = append(k.Subkeys, c.name)
	}
	sort.Slice(k.Subkeys, func(i, j int) bool { return strings.ToUpper(k.Subkeys[i]) < strings.ToUpper(k.Subkeys[j]) })
	for _, v := range n.values {
		v.Data = append([]byte(nil), v.Data...)
		k.Values = append(k.Values, v)
	}
	return k, true
}

// Product is what Windows Installer records of an installed product.
type Product struct {
	// Code is the ProductCode, "{...}" in upper case.
	Code string
	// Name and Version are the ProductName and ProductVersion properties.
	Name, Version string
	// Publisher is the Manufacturer property.
	Publisher string
	// WOW64 records a 32-bit product of a 64-bit host (under UninstallKey32).
	WOW64 bool
}

func (p Product) key() string {
	if p.WOW64 {
		return UninstallKey32 + `\` + p.Code
	}
	return UninstallKey + `\` + p.Code
}

// AddProduct records p as installed, the way Windows Installer writes its
// Uninstall key: DisplayName, DisplayVersion, Publisher, the version as a
// DWORD (major<<24 | minor<<16 | build), WindowsInstaller = 1 and the
// msiexec uninstall command. An earlier entry of the same code is replaced.
func (r *Registry) AddProduct(p Product) {
	r.RemoveProduct(p.Code)
	major, minor, build := parseVersion(p.Version)
	r.SetValues(p.key(),
		StringValue("DisplayName", p.Name),
		StringValue("DisplayVersion", p.Version),
		StringValue("Publisher", p.Publisher),
		StringValue("InstallDate", time.Now().UTC().Format("20060102")),
		StringValue("UninstallString", "MsiExec.exe /X"+p.Code),
		DwordValue("Version", major<<24|minor<<16|build),
		DwordValue("VersionMajor", major),
		DwordValue("VersionMinor", minor),
		DwordValue("WindowsInstaller", 1),
	)
}

// RemoveProduct deletes the product's Uninstall key in both views; false
// when it had none.
func (r *Registry) RemoveProduct(code string) bool {
	a := r.DeleteKey(UninstallKey + `\` + code)
	b := r.DeleteKey(UninstallKey32 + `\` + code)
	return a || b
}

// HasProduct reports whether the product has an Uninstall key, and its
// DisplayVersion.
func (r *Registry) HasProduct(code string) (version string, ok bool) {
	for _, base := range []string{UninstallKey, UninstallKey32} {
		k, found := r.Lookup(base + `\` + code)
		if !found {
			continue
		}
		for _, v := range k.Values {
			if strings.EqualFold(v.Name, "DisplayVersion") {
				return decodeString(v.Data), true
			}
		}
		return "", true
	}
	return "", false
}

func decodeString(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// parseVersion reads major.minor.build as Windows Installer bounds them
// (255.255.65535); missing or bad fields are 0.
func parseVersion(s string) (major, minor, build uint32) {
	f := strings.Split(s, ".")
	get := func(i int, max uint32) uint32 {
		if i >= len(f) {
			return 0
		}
		var n uint32
		for _, c := range f[i] {
			if c < '0' || c > '9' {
				return 0
			}
			n = n*10 + uint32(c-'0')
			if n > max {
				return max
			}
		}
		return n
	}
	return get(0, 255), get(1, 255), get(2, 65535)
}
