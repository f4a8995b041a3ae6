package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A typo on the command line must fail a script, never print help and exit
// 0: an unknown command, subcommand or flag is a usage error (exit 16, as
// every other command line mistake) with one line naming it and one hint
// line (cobra's "did you mean", and where to look).

// strictArgs walks the command tree: commands with subcommands refuse an
// argument that names none of them (cobra only does that for the root, and
// not at all with TraverseChildren), a command without RunE gets one that
// prints its help, and every Args check reports a usage error.
func strictArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
	orig := c.Args
	switch {
	case c.HasSubCommands():
		c.SuggestionsMinimumDistance = 2
		if !c.Runnable() {
			// cobra answers a non-runnable command with its help and
			// exit 0 before it looks at the arguments.
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return usage(cmd, orig, args)
		}
	case orig != nil:
		c.Args = func(cmd *cobra.Command, args []string) error { return usage(cmd, orig, args) }
	}
}

// strictHelp makes `devorch help NOSUCH` fail as `devorch NOSUCH` does;
// cobra prints "Unknown help topic" and the usage, and exits 0.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" || c.Run == nil {
			continue
		}
		show := c.Run
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				// Find leaves what names no command in rest.
				found, rest, err := root.Find(args)
				switch {
				case err != nil:
					return unknownCommand(root, args[0])
				case len(rest) > 0:
					return unknownCommand(found, rest[0])
				}
			}
			show(cmd, args)
			return nil
		}
	}
}

func usage(cmd *cobra.Command, check cobra.PositionalArgs, args []string) error {
	if check == nil {
		return nil
	}
	if err := check(cmd, args); err != nil {
		return &usageError{fmt.Errorf("%w\nSee '%s --help'.", err, cmd.CommandPath())}
	}
	return nil
}

func unknownCommand(cmd *cobra.Command, name string) error {
	hint := fmt.Sprintf("See '%s --help'.", cmd.CommandPath())
	if s := closest(name, cmd.SuggestionsFor(name)); s != "" {
		hint = fmt.Sprintf("Did you mean %q? %s", s, hint)
	}
	return &usageError{fmt.Errorf("unknown command %q for %q\n%s", name, cmd.CommandPath(), hint)}
}

// flagError is the root's FlagErrorFunc (cobra hands it to every
// subcommand): the error, then one hint line with the closest flag, or
// where a global flag goes.
func flagError(root *cobra.Command) func(*cobra.Command, error) error {
	return func(c *cobra.Command, err error) error {
		hint := fmt.Sprintf("See '%s --help'.", c.CommandPath())
		var ne *pflag.NotExistError
		if errors.As(err, &ne) {
			// For "-x" the name is the one unknown letter and the
			// shorthands the group it came in.
			name, isShort := ne.GetSpecifiedName(), ne.GetSpecifiedShortnames() != ""
			text := "--" + name
			global := root.Flags().Lookup(name) != nil
			if isShort {
				text = "-" + name
				global = len(name) == 1 && root.Flags().ShorthandLookup(name) != nil
			}
			switch {
			case c != root && global:
				hint = fmt.Sprintf("%s is a global flag: it goes before the command (devorch %s ... %s). %s", text, text, c.Name(), hint)
			case !isShort:
				if s := closestFlag(c, name); s != "" {
					hint = fmt.Sprintf("Did you mean --%s? %s", s, hint)
				}
			}
		}
		return &usageError{fmt.Errorf("%w\n%s", err, hint)}
	}
}

// closest picks the nearest of cobra's suggestions: it returns every
// command within two edits, in the order they were added.
func closest(name string, suggestions []string) string {
	best, bestD := "", -1
	for _, s := range suggestions {
		if d := editDistance(name, s); bestD < 0 || d < bestD {
			best, bestD = s, d
		}
	}
	return best
}

// closestFlag returns the flag of c whose name is nearest to name (at most
// two edits, or name is a prefix of it), as cobra suggests commands.
func closestFlag(c *cobra.Command, name string) string {
	best, bestD := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(f.Name))
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = 1
		}
		if d < bestD || d == bestD && f.Name < best {
			best, bestD = f.Name, d
		}
	}
	c.Flags().VisitAll(visit)
	c.InheritedFlags().VisitAll(visit)
	return best
}

// editDistance is the Levenshtein distance; cobra has one but keeps it
// unexported.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
