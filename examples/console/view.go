package main

// view.go: the computers' table as the pages and the event stream show it.

import (
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer"
)

// row is one computer of the table. It is sent to browsers as JSON, so it
// holds what the page shows and nothing else (no account, no secret).
type row struct {
	Key        string `json:"key"`
	Addr       string `json:"addr"`
	Collection string `json:"collection"`
	State      string `json:"state"`      // the Deployer documentation's words
	StateName  string `json:"state_name"` // the machine name, for styles
	Attempts   int    `json:"attempts"`
	Progress   string `json:"progress"`
	Error      string `json:"error"` // type: message
	Cause      string `json:"cause"`
	Solution   string `json:"solution"`
	Busy       bool   `json:"busy"` // scheduled, installing or retrying: it may be cancelled
}

// count is one state's counter.
type count struct {
	Name, State string
	N           int
}

// tableView is the whole table.
type tableView struct {
	Rows   []row
	Counts []count
	index  map[string]int
}

func (v *tableView) row(key string) (row, bool) {
	i, ok := v.index[key]
	if !ok {
		return row{}, false
	}
	return v.Rows[i], true
}

func (v *tableView) countMap() map[string]int {
	m := make(map[string]int, len(v.Counts)+1)
	total := 0
	for _, c := range v.Counts {
		m[c.Name] = c.N
		total += c.N
	}
	m["total"] = total
	return m
}

// view builds the table: the collections' computers in discovery order,
// then the computers only the Deployer knows (from its store).
func (c *console) view() *tableView {
	c.mu.Lock()
	order := append([]string(nil), c.order...)
	coll := make(map[string]string, len(order))
	addr := make(map[string]string, len(order))
	for _, k := range order {
		if col := c.hostColl[k]; col != nil {
			coll[k] = col.Name
		}
		if h := c.hosts[k]; h.Addr.IsValid() {
			addr[k] = h.Addr.String()
		}
	}
	d := c.d
	c.mu.Unlock()
	recs := map[string]deployer.HostRecord{}
	if d != nil {
		for _, r := range d.Hosts() {
			if _, ok := coll[r.Key]; !ok {
				if _, seen := recs[r.Key]; !seen {
					order = append(order, r.Key)
				}
			}
			recs[r.Key] = r
		}
	}
	v := &tableView{index: make(map[string]int, len(order))}
	counts := map[deployer.State]int{}
	for _, k := range order {
		if _, dup := v.index[k]; dup {
			continue
		}
		r, ok := recs[k]
		if !ok {
			r = deployer.HostRecord{Key: k, State: deployer.Discovered, Addr: addr[k]}
		}
		if r.Addr == "" {
			r.Addr = addr[k]
		}
		v.index[k] = len(v.Rows)
		v.Rows = append(v.Rows, rowOf(r, coll[k]))
		counts[r.State]++
	}
	for _, s := range deployer.States() {
		v.Counts = append(v.Counts, count{Name: s.Name(), State: s.String(), N: counts[s]})
	}
	return v
}

func rowOf(r deployer.HostRecord, collection string) row {
	out := row{Key: r.Key, Addr: r.Addr, Collection: collection, State: r.State.String(), StateName: r.State.Name(),
		Attempts: r.Attempts, Progress: progressText(r),
		Busy: r.State == deployer.Scheduled || r.State == deployer.Installing || r.State == deployer.Retrying}
	if e := r.Error; e != nil {
		out.Error = errorTitle(e)
		out.Cause, out.Solution = e.Cause, e.Solution
	}
	return out
}

// errorTitle is "Type: Message", or the error's line when the table has no row for it.
func errorTitle(e *deployer.ErrorInfo) string {
	switch {
	case e.Type != "" && e.Message != "":
		return e.Type + ": " + e.Message
	case e.Message != "":
		return e.Message
	}
	return e.Error
}

// progressText says how far an attempt is.
func progressText(r deployer.HostRecord) string {
	switch r.State {
	case deployer.WithCollector:
		s := "installed"
		if r.Package != nil && r.Package.ProductVersion != "" {
			s += " (version " + r.Package.ProductVersion + ")"
		}
		if r.RebootNeeded {
			s += ", restart needed"
		}
		return s
	case deployer.Retrying:
		if !r.NextAttempt.IsZero() {
			return "next attempt at " + r.NextAttempt.Format("15:04:05")
		}
	}
	p := r.Progress
	if p == nil || (r.State != deployer.Installing && r.State != deployer.Scheduled) {
		return ""
	}
	var parts []string
	parts = append(parts, p.Phase)
	if p.Percent != nil {
		parts = append(parts, fmt.Sprintf("%d%%", *p.Percent))
	}
	if p.Action != "" {
		parts = append(parts, p.Action)
	}
	return strings.Join(parts, " ")
}
