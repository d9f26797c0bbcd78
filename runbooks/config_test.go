package runbooks

import "testing"

// A mistake inside an environment is told where it is, once; only an
// environment with nothing in it is called empty.
func TestConfigProblemsAreToldWhereTheyAre(t *testing.T) {
	for src, want := range map[string]string{
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    pipeline:\n      provider: github\n      repositry: a/b\n": `drctl.yaml:7:7: unknown field "repositry" in environments.production.pipeline; did you mean "repository"?`,
		"environments:\n  production:\n": `drctl.yaml:2:3: environment "production" is empty`,
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    pipeline: {provider: webhook, url: https://ci.example.org/freeze}\n":                                `drctl.yaml:5:15: environment "production": pipeline: provider webhook needs hmac_key`,
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    stores:\n      ../up: {type: local, path: /tmp}\n":                                                  `drctl.yaml:6:7: environment "production": store name "../up" must be letters, digits, - and _`,
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    stores:\n      backups: {type: local, path: /srv/b}\n      offsite: {type: local, path: /srv/b/}\n": `drctl.yaml:7:7: environment "production": stores "backups" and "offsite" are the same place (local /srv/b): a backup written to both would be one copy, written twice over itself`,
		"users:\n  ana: {ssh_keys: [\"ssh-ed25519 AAAAnotakey\"]}\nenvironments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n":                                             `drctl.yaml:2:20: user "ana": ssh_keys[0] is not a public SSH key (ssh: no key found; last parsing error for ignored line: illegal base64 data at input byte 8): paste a line of ~/.ssh/*.pub, or what drctl keys prints`,
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    policy: {approval: {required: true, approvers: [user:ana]}}\n":                                      `drctl.yaml:5:52: environment "production" takes only signed decisions, but approver ana has no ssh_keys under users: (drctl keys prints the entry; or signed: false on a sandbox)`,
		"environments:\n  production:\n    role: source\n    database: {name: register, url: env:X}\n    policy: {approval: {required: true, signed: false, approvers: [user:ana]}}\n":                       ``,
	} {
		_, diags := ParseConfig("drctl.yaml", []byte(src))
		if got := diags.Lines(); got != want+"\n" && got != want {
			t.Errorf("%s\ngot  %q\nwant %q", src, got, want)
		}
	}
}
