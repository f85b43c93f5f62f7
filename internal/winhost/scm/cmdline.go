package scm

import "strings"

// SplitCommandLine splits a Windows command line into arguments with the
// rules of CommandLineToArgvW: the program name (first argument) ends at the
// first space or tab unless it starts with a quote, in which case it ends at
// the next quote with no escape processing; in later arguments, 2n
// backslashes before a quote yield n backslashes and toggle quoting, 2n+1
// yield n backslashes and a literal quote, backslashes elsewhere are literal,
// and "" inside a quoted span yields one literal quote.
func SplitCommandLine(cmd string) []string {
	var args []string
	if cmd == "" {
		return nil
	}
	// The program name.
	if cmd[0] == '"' {
		end := strings.IndexByte(cmd[1:], '"')
		if end < 0 {
			return []string{cmd[1:]}
		}
		args = append(args, cmd[1:1+end])
		cmd = cmd[2+end:]
	} else {
		end := strings.IndexAny(cmd, " \t")
		if end < 0 {
			return []string{cmd}
		}
		args = append(args, cmd[:end])
		cmd = cmd[end:]
	}
	for {
		cmd = strings.TrimLeft(cmd, " \t")
		if cmd == "" {
			return args
		}
		var arg []byte
		arg, cmd = nextArg(cmd)
		args = append(args, string(arg))
	}
}

// nextArg reads one argument (not the program name) from cmd.
func nextArg(cmd string) ([]byte, string) {
	var b []byte
	inQuote := false
	slashes := 0
	flush := func(n int) {
		for ; n > 0; n-- {
			b = append(b, '\\')
		}
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\':
			slashes++
			continue
		case c == '"':
			flush(slashes / 2)
			if slashes%2 == 1 {
				b = append(b, '"')
			} else if inQuote && i+1 < len(cmd) && cmd[i+1] == '"' {
				b = append(b, '"')
				i++
			} else {
				inQuote = !inQuote
			}
			slashes = 0
			continue
		case (c == ' ' || c == '\t') && !inQuote:
			flush(slashes)
			return b, cmd[i+1:]
		}
		flush(slashes)
		slashes = 0
		b = append(b, c)
	}
	flush(slashes)
	return b, ""
}
