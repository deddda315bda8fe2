// Command go_tlog checks trm-hub's audit log with Go's own implementation:
// golang.org/x/mod/sumdb/tlog (RFC 6962/9162 trees) and sumdb/note (signed
// notes). It reads a JSON case file on stdin and prints one line per check:
// "ok <name>" or "fail <name>: <error>". A check marked "want_err" must fail.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Name    string   `json:"name"`
	Leaf    string   `json:"leaf"` // base64 of the leaf bytes
	Index   int64    `json:"index"`
	Size    int64    `json:"size"`
	Root    string   `json:"root"`
	Proof   []string `json:"proof"`
	WantErr bool     `json:"want_err"`
}

type consistency struct {
	Name    string   `json:"name"`
	Size1   int64    `json:"size1"`
	Size2   int64    `json:"size2"`
	Root1   string   `json:"root1"`
	Root2   string   `json:"root2"`
	Proof   []string `json:"proof"`
	WantErr bool     `json:"want_err"`
}

type checkpoint struct {
	Name     string `json:"name"`
	Note     string `json:"note"`
	Verifier string `json:"verifier"`
	Text     string `json:"text"`
	WantErr  bool   `json:"want_err"`
}

type cases struct {
	Roots       []string      `json:"roots"` // root after each leaf is appended
	Leaves      []string      `json:"leaves"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
	Checkpoints []checkpoint  `json:"checkpoints"`
}

func hash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func hashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := hash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func report(name string, err error, wantErr bool) {
	switch {
	case err == nil && !wantErr:
		fmt.Printf("ok %s\n", name)
	case err != nil && wantErr:
		fmt.Printf("ok %s (refused: %v)\n", name, err)
	case err == nil:
		fmt.Printf("fail %s: accepted, want an error\n", name)
	default:
		fmt.Printf("fail %s: %v\n", name, err)
	}
}

func main() {
	var c cases
	if err := json.NewDecoder(os.Stdin).Decode(&c); err != nil {
		fmt.Printf("fail input: %v\n", err)
		os.Exit(2)
	}
	// Roots: Go's TreeHash over Go's RecordHash of our leaf bytes.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, leaf := range c.Leaves {
		data, err := base64.StdEncoding.DecodeString(leaf)
		if err != nil {
			report(fmt.Sprintf("leaf %d", i), err, false)
			continue
		}
		hs, err := tlog.StoredHashes(int64(i), data, reader)
		if err != nil {
			report(fmt.Sprintf("leaf %d", i), err, false)
			continue
		}
		stored = append(stored, hs...)
		got, err := tlog.TreeHash(int64(i+1), reader)
		want, herr := hash(c.Roots[i])
		if err == nil && herr != nil {
			err = herr
		}
		if err == nil && got != want {
			err = fmt.Errorf("root %d: go %x, trm-hub %x", i+1, got, want)
		}
		report(fmt.Sprintf("root %d", i+1), err, false)
	}
	for _, t := range c.Inclusion {
		data, err := base64.StdEncoding.DecodeString(t.Leaf)
		var root tlog.Hash
		var proof []tlog.Hash
		if err == nil {
			root, err = hash(t.Root)
		}
		if err == nil {
			proof, err = hashes(t.Proof)
		}
		if err == nil {
			err = tlog.CheckRecord(tlog.RecordProof(proof), t.Size, root, t.Index, tlog.RecordHash(data))
		}
		report(t.Name, err, t.WantErr)
	}
	for _, t := range c.Consistency {
		r1, err := hash(t.Root1)
		var r2 tlog.Hash
		var proof []tlog.Hash
		if err == nil {
			r2, err = hash(t.Root2)
		}
		if err == nil {
			proof, err = hashes(t.Proof)
		}
		if err == nil {
			err = tlog.CheckTree(tlog.TreeProof(proof), t.Size2, r2, t.Size1, r1)
		}
		report(t.Name, err, t.WantErr)
	}
	for _, t := range c.Checkpoints {
		v, err := note.NewVerifier(t.Verifier)
		var n *note.Note
		if err == nil {
			n, err = note.Open([]byte(t.Note), note.VerifierList(v))
		}
		if err == nil && n.Text != t.Text {
			err = fmt.Errorf("text differs")
		}
		report(t.Name, err, t.WantErr)
	}
}
