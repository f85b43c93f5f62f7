package addc

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// SchemaUpdateAllowed is the [global] line that lets a DC's schema be
// extended over LDAP (Samba refuses schema changes without it); pass it in
// Options.Global before calling ExtendLAPSSchema.
const SchemaUpdateAllowed = "dsdb:schema update allowed = true"

// SchemaDN is the schema partition's DN.
const SchemaDN = "CN=Schema,CN=Configuration," + BaseDN

// lapsSchema is the LAPS schema (lDAPDisplayNames as package laps reads
// them) as Update-LapsADSchema and AdmPwd.PS's
// Update-AdmPwdADSchema add it ([MS-ADA2] 2.64-2.71: OIDs, syntaxes, single
// value, searchFlags 904 = fPRESERVEONDELETE | fCONFIDENTIAL |
// fNEVERVALUEAUDIT | fRODCFilteredAttribute on the passwords).
var lapsSchema = []struct {
	cn, name, oid, syntax, om string
	single                    bool
	searchFlags               int
}{
	{"ms-Mcs-AdmPwd", "ms-Mcs-AdmPwd", "1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.1", "2.5.5.5", "19", true, 904},
	{"ms-Mcs-AdmPwdExpirationTime", "ms-Mcs-AdmPwdExpirationTime", "1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.2", "2.5.5.16", "65", true, 0},
	{"ms-LAPS-PasswordExpirationTime", "msLAPS-PasswordExpirationTime", "1.2.840.113556.1.6.44.1.1", "2.5.5.16", "65", true, 0},
	{"ms-LAPS-Password", "msLAPS-Password", "1.2.840.113556.1.6.44.1.2", "2.5.5.5", "19", true, 904},
	{"ms-LAPS-EncryptedPassword", "msLAPS-EncryptedPassword", "1.2.840.113556.1.6.44.1.3", "2.5.5.10", "4", true, 904},
	{"ms-LAPS-EncryptedPasswordHistory", "msLAPS-EncryptedPasswordHistory", "1.2.840.113556.1.6.44.1.4", "2.5.5.10", "4", false, 904},
}

// ExtendLAPSSchema adds the attributes of legacy LAPS and Windows LAPS to
// the directory and to the computer class over l (bound as an
// administrator), as the LAPS schema cmdlets do against Windows. The DC
// must run with SchemaUpdateAllowed.
func ExtendLAPSSchema(l *ldap.Conn) error {
	var names []string
	for _, a := range lapsSchema {
		req := ldap.NewAddRequest("CN="+a.cn+","+SchemaDN, nil)
		req.Attribute("objectClass", []string{"top", "attributeSchema"})
		req.Attribute("cn", []string{a.cn})
		req.Attribute("attributeID", []string{a.oid})
		req.Attribute("attributeSyntax", []string{a.syntax})
		req.Attribute("oMSyntax", []string{a.om})
		req.Attribute("isSingleValued", []string{strings.ToUpper(fmt.Sprint(a.single))})
		req.Attribute("lDAPDisplayName", []string{a.name})
		req.Attribute("adminDisplayName", []string{a.cn})
		req.Attribute("searchFlags", []string{fmt.Sprint(a.searchFlags)})
		if err := l.Add(req); err != nil {
			return fmt.Errorf("addc: adding %s to the schema: %w", a.cn, err)
		}
		names = append(names, a.name)
	}
	refresh := ldap.NewModifyRequest("", nil)
	refresh.Replace("schemaUpdateNow", []string{"1"})
	if err := l.Modify(refresh); err != nil {
		return fmt.Errorf("addc: schemaUpdateNow: %w", err)
	}
	mod := ldap.NewModifyRequest("CN=Computer,"+SchemaDN, nil)
	mod.Add("mayContain", names)
	if err := l.Modify(mod); err != nil {
		return fmt.Errorf("addc: adding the LAPS attributes to the computer class: %w", err)
	}
	if err := l.Modify(refresh); err != nil {
		return fmt.Errorf("addc: schemaUpdateNow: %w", err)
	}
	return nil
}

// SetAttributes replaces attributes of the object dn over l.
func SetAttributes(l *ldap.Conn, dn string, kv map[string][]string) error {
	m := ldap.NewModifyRequest(dn, nil)
	for k, v := range kv {
		m.Replace(k, v)
	}
	if err := l.Modify(m); err != nil {
		return fmt.Errorf("addc: modifying %s: %w", dn, err)
	}
	return nil
}
