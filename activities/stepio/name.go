package stepio

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// namePattern is what a name that becomes a folder, an object key or a
// database identifier may be: letters, digits, '.', '_' and '-', starting
// with a letter or digit (so never "..", never a hidden file, never an
// option), at most 63 characters (Postgres's longest identifier).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// NameProblem says why name, a kind of name such as "instance", may not
// be used, or "". Empty names are the caller's to allow or refuse.
func NameProblem(kind, name string) string {
	if name == "" || namePattern.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("%s name %q is refused: names are 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
}

// CheckName is NameProblem as a step's non-retryable error, or nil.
func CheckName(kind, name string) error {
	if msg := NameProblem(kind, name); msg != "" {
		return temporal.NewNonRetryableApplicationError(msg, "BadName", nil)
	}
	return nil
}

// CheckNames checks several names, "kind", name, "kind", name, ...; the
// first refused one is the error.
func CheckNames(kindsAndNames ...string) error {
	for i := 0; i+1 < len(kindsAndNames); i += 2 {
		if err := CheckName(kindsAndNames[i], kindsAndNames[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// CheckInput applies CheckName to every field of a step's input tagged
// format:"name", in nested structs too: what the compiler checked when the
// plan was made, checked again where the name is used, since a name may
// come from an earlier step's output or a plan compiled elsewhere.
func CheckInput(in any) error {
	return checkFields(reflect.ValueOf(in))
}

func checkFields(v reflect.Value) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Tag.Get("format") == "name" && f.Type.Kind() == reflect.String {
			key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if err := CheckName(NameKind(key), v.Field(i).String()); err != nil {
				return err
			}
			continue
		}
		if err := checkFields(v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// NameKind is what an input key holding a name names, for messages.
func NameKind(key string) string {
	switch key {
	case "new_name":
		return "database"
	case "to":
		return "instance"
	case "env":
		return "environment"
	}
	return key
}
