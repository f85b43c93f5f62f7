package laps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nxdeploy/deployer/laps"
)

// Read a Windows LAPS password stored in clear, as an LDAP search returned
// the computer's attributes.
func ExampleRead() {
	attrs := laps.Attributes{
		laps.AttrPassword:   {[]byte(`{"n":"Administrator","t":"1d8161b41c41cde","p":"A6a3#7%eb!5"}`)},
		laps.AttrExpiration: {[]byte("133420000000000000")},
	}
	cred, err := laps.Read(context.Background(), "PC-0001", attrs, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cred.Source, cred.Account, cred.Updated.Format("2006-01-02"), cred.Expires.Format("2006-01-02"))
	fmt.Println("password:", cred.Password)
	// Output:
	// msLAPS-Password Administrator 2022-01-30 2023-10-17
	// password: [REDACTED]
}

// A password shows itself nowhere but through Reveal.
func ExamplePassword() {
	p := laps.NewPassword("A6a3#7%eb!5")
	j, _ := json.Marshal(struct{ Password laps.Password }{p})
	fmt.Printf("%v %#v %s\n", p, p, j)
	fmt.Println(len(p.Reveal()))
	// Output:
	// [REDACTED] [REDACTED] {"Password":"[REDACTED]"}
	// 11
}

// Windows LAPS may manage an account other than the built-in Administrator,
// which Windows filters on network logons: name that before trying.
func ExampleCredential_CheckRemoteAdmin() {
	attrs := laps.Attributes{laps.AttrPassword: {[]byte(`{"n":"WLapsAdmin","p":"x7!Kq2"}`)}}
	cred, _ := laps.Read(context.Background(), "PC-0002", attrs, nil)
	err := cred.CheckRemoteAdmin()
	fmt.Println(errors.Is(err, laps.ErrFilteredAccount))
	fmt.Println(err)
	// Output:
	// true
	// laps: PC-0002: the LAPS-managed account "WLapsAdmin" is not the built-in Administrator (RID 500) unless it was renamed: Windows filters its administrator token on network logons (UAC remote restrictions) unless LocalAccountTokenFilterPolicy is 1
}
