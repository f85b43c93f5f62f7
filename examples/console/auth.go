package main

// auth.go: logging in (the token printed at start, or a password from the
// environment), sessions, CSRF tokens and the headers every reply carries.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// loginSecret is what logs in: a generated token or a configured password.
type loginSecret struct {
	token, password string
}

// randomToken returns 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Cookie names.
const (
	sessionCookie  = "console_session"
	preLoginCookie = "console_login" // the login form's CSRF token
)

// sessionLifetime bounds a session.
const sessionLifetime = 12 * time.Hour

// session is one logged-in browser.
type session struct {
	csrf    string
	expires time.Time
	flash   string // a one-time message for the next page
}

// auth checks logins and keeps the sessions.
type auth struct {
	secret [sha256.Size]byte // of the token or password: compared in constant time

	mu       sync.Mutex
	sessions map[string]*session
}

func newAuth(l loginSecret) *auth {
	s := l.token
	if l.password != "" {
		s = l.password
	}
	return &auth{secret: sha256.Sum256([]byte(s)), sessions: map[string]*session{}}
}

// check reports whether given is the token or password.
func (a *auth) check(given string) bool {
	h := sha256.Sum256([]byte(given))
	return given != "" && subtle.ConstantTimeCompare(h[:], a.secret[:]) == 1
}

// login starts a session and sets its cookie.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	id := randomToken()
	a.mu.Lock()
	now := time.Now()
	for k, s := range a.sessions {
		if now.After(s.expires) {
			delete(a.sessions, k)
		}
	}
	a.sessions[id] = &session{csrf: randomToken(), expires: now.Add(sessionLifetime)}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionLifetime / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: preLoginCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
}

// logout ends the session of r.
func (a *auth) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, ck.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
}

// session returns the session of r, nil when it has none.
func (a *auth) session(r *http.Request) (id string, s *session) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s = a.sessions[ck.Value]
	if s == nil {
		return "", nil
	}
	if time.Now().After(s.expires) {
		delete(a.sessions, ck.Value)
		return "", nil
	}
	return ck.Value, s
}

// csrfOK reports whether r's form carries the session's CSRF token.
func (a *auth) csrfOK(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	a.mu.Lock()
	want := s.csrf
	a.mu.Unlock()
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setFlash leaves a message for the session's next page.
func (a *auth) setFlash(s *session, msg string) {
	a.mu.Lock()
	s.flash = msg
	a.mu.Unlock()
}

// takeFlash returns the session's message once.
func (a *auth) takeFlash(s *session) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := s.flash
	s.flash = ""
	return m
}

// csrfToken returns the session's CSRF token.
func (a *auth) csrfToken(s *session) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return s.csrf
}

// contentSecurityPolicy allows the console's own scripts, styles and
// images only: no inline script, no framing, forms posted to itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every reply carries.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: forms would then send "Origin: null"
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
