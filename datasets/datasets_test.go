package datasets

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/datasets/scenario"
)

// The library is what users run: every file must load, and it must cover
// what the product promises.
func TestLibrary(t *testing.T) {
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[scenario.Kind]int{}
	findings := map[string]bool{}
	for _, name := range lib.Names() {
		s, err := lib.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		kinds[s.Kind]++
		if s.Attack != nil {
			for _, f := range s.Attack.Findings {
				findings[f] = true
			}
		}
		if !strings.HasPrefix(s.File, "scenarios/"+dir(s.Kind)+"/") {
			t.Errorf("%s: a %s scenario belongs in scenarios/%s", s.File, s.Kind, dir(s.Kind))
		}
	}
	if kinds[scenario.KindBenign] < 4 || kinds[scenario.KindAttack] < 14 || kinds[scenario.KindAnomaly] < 4 {
		t.Errorf("library has %v; want at least 4 benign, 14 attacks, 4 anomalies", kinds)
	}
	for _, f := range []string{
		"Execution:Runtime/ReverseShell", "Impact:Runtime/CryptoMinerExecuted", "Execution:Runtime/SuspiciousTool",
		"Execution:Runtime/NewBinaryExecuted", "DefenseEvasion:Runtime/FilelessExecution",
		"DefenseEvasion:Runtime/ProcessInjection.Ptrace", "DefenseEvasion:Runtime/ProcessInjection.Proc",
		"PrivilegeEscalation:Runtime/ElevationToRoot", "Persistence:Runtime/SensitiveFileModified",
		"PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified", "PrivilegeEscalation:Runtime/DockerSocketAccessed",
		"PrivilegeEscalation:Runtime/ContainerMountsHostDirectory", "DefenseEvasion:Runtime/KernelModuleLoaded",
		"Trojan:Runtime/DGADomainRequest.C!DNS", "DefenseEvasion:Runtime/SuspiciousCommand",
	} {
		if !findings[f] {
			t.Errorf("no scenario expects %s", f)
		}
	}
}

func dir(k scenario.Kind) string {
	switch k {
	case scenario.KindAttack:
		return "attacks"
	case scenario.KindAnomaly:
		return "anomalies"
	}
	return "benign"
}
