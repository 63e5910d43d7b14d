package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommands(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`
- rule: typo
  name: typo
  type: Execution:Runtime/SuspiciousTool
  severity: 5
  condition: kind == "exec" and proc.exe_nam == "x"
`), 0o644)
	out, err := runVigil(t, "rules", "check", dir)
	if err == nil || !strings.Contains(out, "bad.yaml:6:14: rule typo:") {
		t.Fatalf("check of a bad file: err %v, output:\n%s", err, out)
	}
	if out, err := runVigil(t, "rules", "check"); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("check of the default pack: %v\n%s", err, out)
	}
	out, err = runVigil(t, "rules", "list")
	if err != nil || !strings.Contains(out, "reverse_shell_connect") || !strings.Contains(out, "Execution:Runtime/ReverseShell") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(`{"time":1700000000000000000,"kind":"exec","pid":10,"comm":"nmap","exe_path":"/usr/bin/nmap","argv":["nmap","127.0.0.1"],"proc_uuid":"u10","container_id":"c1","workload":"web"}
{"time":1700000000100000000,"kind":"exec","pid":11,"comm":"ls","exe_path":"/bin/ls","argv":["ls"],"proc_uuid":"u11","container_id":"c1","workload":"web"}
`), 0o644)
	out, err = runVigil(t, "rules", "test", "--events", events)
	if err != nil || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "suspicious_tool\tExecution:Runtime/SuspiciousTool") {
		t.Fatalf("test: %v\n%s", err, out)
	}
}
