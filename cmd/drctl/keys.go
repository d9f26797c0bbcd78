package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/drctl/drctl/internal/keys"
)

// newKeysCmd prints a person's entry for the environments file, so that
// their decisions can be signed: a minute's work.
func newKeysCmd() *cobra.Command {
	var as, key string
	cmd := &cobra.Command{
		Use:   "keys [--as NAME] [--key FILE]",
		Short: "print your entry for the environments file's users: your public SSH keys, from ssh-agent or a key file",
		Example: `  drctl keys --as ana                      # the keys in ssh-agent
  drctl keys --as ana --key ~/.ssh/id_ed25519`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pubs, err := keys.Public(key)
			if err != nil {
				return failed("%v", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "# under users: in the environments file; decisions are signed with the private key")
			fmt.Fprintf(w, "  %s:\n    ssh_keys:\n", as)
			for _, p := range pubs {
				fmt.Fprintf(w, "      - %s\n", strconv.Quote(p))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", whoami(), "your name, as the environments file and approvers know you")
	cmd.Flags().StringVar(&key, "key", "", "a public or private key file (default: the keys in ssh-agent)")
	return cmd
}
