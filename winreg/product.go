package winreg

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Where Windows lists installed products.
const (
	// UninstallKey lists the products of the host's own architecture (and
	// every product on 32-bit Windows).
	UninstallKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	// UninstallKey32 lists 32-bit products on 64-bit Windows.
	UninstallKey32 = `SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`
	// UpgradeCodesKey maps each Windows Installer upgrade code (packed) to
	// its products' codes (packed value names).
	UpgradeCodesKey = `SOFTWARE\Classes\Installer\UpgradeCodes`
)

// View says which Uninstall key a product was found under.
type View int

// Registry views.
const (
	// Native is UninstallKey.
	Native View = iota + 1
	// WOW64 is UninstallKey32: a 32-bit product on 64-bit Windows.
	WOW64
)

func (v View) key() string {
	if v == WOW64 {
		return UninstallKey32
	}
	return UninstallKey
}

// String names the view.
func (v View) String() string {
	switch v {
	case Native:
		return "native"
	case WOW64:
		return "32-bit on 64-bit"
	}
	return fmt.Sprintf("winreg.View(%d)", int(v))
}

// Product is one entry of the host's installed programs (an Uninstall
// subkey, per machine).
type Product struct {
	// Key is the subkey's name: the ProductCode ("{...}" in upper case) for
	// a Windows Installer product.
	Key string
	// View is where it was found.
	View View
	// DisplayName and DisplayVersion are what "Programs and Features"
	// shows.
	DisplayName, DisplayVersion string
	// Version is the product's version: Windows Installer's Version value
	// when there is one, else DisplayVersion when it has the
	// major.minor.build form; zero otherwise.
	Version Version
	// Publisher, InstallDate (yyyymmdd), InstallLocation and
	// UninstallString as the installer recorded them.
	Publisher, InstallDate, InstallLocation, UninstallString string
	// WindowsInstaller reports a Windows Installer (MSI) product
	// (WindowsInstaller = 1).
	WindowsInstaller bool
	// SystemComponent reports an entry hidden from "Programs and Features".
	SystemComponent bool
}

// ProductCode returns Key when it is a ProductCode, else "".
func (p *Product) ProductCode() string {
	if c, err := NormalizeGUID(p.Key); err == nil {
		return c
	}
	return ""
}

// ErrNotInstalled is returned when the host has no such product.
var ErrNotInstalled = errors.New("winreg: the product is not installed")

// ErrBadGUID is returned for a ProductCode or UpgradeCode that is not a GUID.
var ErrBadGUID = errors.New("winreg: not a GUID in braces")

// NormalizeGUID returns code as Windows Installer writes it:
// "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" in upper case. Braces are
// optional in code.
func NormalizeGUID(code string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(code), "{"), "}")
	if len(s) != 36 {
		return "", fmt.Errorf("%w: %q", ErrBadGUID, code)
	}
	for i, r := range s {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		hex := (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F')
		if dash != (r == '-') || (!dash && !hex) {
			return "", fmt.Errorf("%w: %q", ErrBadGUID, code)
		}
	}
	return "{" + strings.ToUpper(s) + "}", nil
}

// PackGUID returns the packed form Windows Installer uses in registry key
// and value names: each of the first three groups reversed, then each byte
// of the last two groups with its two hex digits swapped.
func PackGUID(code string) (string, error) {
	g, err := NormalizeGUID(code)
	if err != nil {
		return "", err
	}
	h := strings.ReplaceAll(g[1:len(g)-1], "-", "")
	var b strings.Builder
	rev := func(s string) {
		for i := len(s) - 1; i >= 0; i-- {
			b.WriteByte(s[i])
		}
	}
	rev(h[0:8])
	rev(h[8:12])
	rev(h[12:16])
	for i := 16; i < 32; i += 2 {
		b.WriteByte(h[i+1])
		b.WriteByte(h[i])
	}
	return b.String(), nil
}

// UnpackGUID undoes PackGUID.
func UnpackGUID(packed string) (string, error) {
	if len(packed) != 32 {
		return "", fmt.Errorf("%w: packed %q", ErrBadGUID, packed)
	}
	var b strings.Builder
	rev := func(s string) {
		for i := len(s) - 1; i >= 0; i-- {
			b.WriteByte(s[i])
		}
	}
	rev(packed[0:8])
	b.WriteByte('-')
	rev(packed[8:12])
	b.WriteByte('-')
	rev(packed[12:16])
	b.WriteByte('-')
	for i := 16; i < 32; i += 2 {
		if i == 20 {
			b.WriteByte('-')
		}
		b.WriteByte(packed[i+1])
		b.WriteByte(packed[i])
	}
	return NormalizeGUID(b.String())
}

// productFromValues builds a Product from an Uninstall subkey's values.
func productFromValues(key string, view View, values []Value) *Product {
	p := &Product{Key: key, View: view}
	var dword *Version
	for _, v := range values {
		switch strings.ToLower(v.Name) {
		case "displayname":
			p.DisplayName, _ = v.String()
		case "displayversion":
			p.DisplayVersion, _ = v.String()
		case "publisher":
			p.Publisher, _ = v.String()
		case "installdate":
			p.InstallDate, _ = v.String()
		case "installlocation":
			p.InstallLocation, _ = v.String()
		case "uninstallstring":
			p.UninstallString, _ = v.String()
		case "windowsinstaller":
			n, err := v.Uint64()
			p.WindowsInstaller = err == nil && n == 1
		case "systemcomponent":
			n, err := v.Uint64()
			p.SystemComponent = err == nil && n == 1
		case "version":
			if n, err := v.Uint64(); err == nil && n <= 0xFFFFFFFF {
				ver := VersionFromDword(uint32(n))
				dword = &ver
			}
		}
	}
	switch {
	case dword != nil:
		p.Version = *dword
	default:
		if ver, err := ParseVersion(strings.TrimSpace(p.DisplayVersion)); err == nil {
			p.Version = ver
		}
	}
	return p
}

// Product returns the per-machine product whose ProductCode is code, looked
// up in both views (the native one first); ErrNotInstalled when the host
// has neither.
func (c *Client) Product(ctx context.Context, productCode string) (*Product, error) {
	return c.ProductIn(ctx, productCode, Native, WOW64)
}

// ProductIn is Product looking only in views, in that order: one request
// per view where the product is not. Windows Installer records a 64-bit
// package's product in the Native view only, and a 32-bit one in WOW64 on
// 64-bit Windows and in Native on 32-bit Windows.
func (c *Client) ProductIn(ctx context.Context, productCode string, views ...View) (*Product, error) {
	key, err := NormalizeGUID(productCode)
	if err != nil {
		return nil, err
	}
	var found *Product
	err = c.withKeys(ctx, func(k *keys) error {
		found = nil
		for _, view := range views {
			h, err := k.open(view.key() + `\` + key)
			if code(err) == errFileNotFound {
				continue
			}
			if err != nil {
				return err
			}
			vals, err := k.values(h)
			if err != nil {
				return err
			}
			found = productFromValues(key, view, vals)
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s on %s", ErrNotInstalled, key, c.host)
	}
	return found, nil
}

// Products returns every per-machine entry of both Uninstall keys, sorted
// by view and key.
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var out []Product
	err := c.withKeys(ctx, func(k *keys) error {
		out = nil
		for _, view := range []View{Native, WOW64} {
			h, err := k.open(view.key())
			if code(err) == errFileNotFound {
				continue
			}
			if err != nil {
				return err
			}
			names, err := k.subkeys(h)
			if err != nil {
				return err
			}
			for _, name := range names {
				sub, err := k.open(view.key() + `\` + name)
				if code(err) == errFileNotFound {
					continue // removed meanwhile
				}
				if err != nil {
					return err
				}
				vals, err := k.values(sub)
				if err != nil {
					return err
				}
				out = append(out, *productFromValues(name, view, vals))
				k.closeLast()
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].View != out[j].View {
			return out[i].View < out[j].View
		}
		return out[i].Key < out[j].Key
	})
	return out, err
}

// ProductCodes returns the ProductCodes Windows Installer registered for
// upgradeCode (the products of one family, any version); ErrNotInstalled
// when it knows none.
func (c *Client) ProductCodes(ctx context.Context, upgradeCode string) ([]string, error) {
	packed, err := PackGUID(upgradeCode)
	if err != nil {
		return nil, err
	}
	var out []string
	err = c.withKeys(ctx, func(k *keys) error {
		out = nil
		h, err := k.open(UpgradeCodesKey + `\` + packed)
		if err != nil {
			return err
		}
		vals, err := k.values(h)
		if err != nil {
			return err
		}
		for _, v := range vals {
			if pc, err := UnpackGUID(v.Name); err == nil {
				out = append(out, pc)
			}
		}
		return nil
	})
	if code(err) == errFileNotFound || (err == nil && len(out) == 0) {
		return nil, fmt.Errorf("%w: no product of upgrade code %s on %s", ErrNotInstalled, upgradeCode, c.host)
	}
	sort.Strings(out)
	return out, err
}
