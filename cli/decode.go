package cli

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"kmsconsole/model"
)

// parseParams reads "--Name value" and "--Name=value" pairs. Every parameter
// takes a value, as in the cloud CLI (booleans are written true/false).
func parseParams(args []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			return nil, model.InvalidParam(a, "expected --Name value, got %q", a)
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		if !hasValue {
			if i+1 >= len(args) {
				return nil, model.InvalidParam(name, "--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if _, dup := out[name]; dup {
			return nil, model.InvalidParam(name, "given more than once")
		}
		out[name] = value
	}
	return out, nil
}

// paramName is the CLI name of a request field ("" = not a parameter).
func paramName(f reflect.StructField) string {
	if !f.IsExported() || f.Type.Kind() == reflect.Func {
		return ""
	}
	if tag, ok := f.Tag.Lookup("param"); ok {
		if tag == "-" {
			return ""
		}
		return tag
	}
	return f.Name
}

// paramNames lists the parameters a request type takes, sorted.
func paramNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := paramName(t.Field(i)); n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// decode fills the request struct out from params, refusing unknown
// parameters and values of the wrong shape with an error naming the parameter.
func decode(action string, params map[string]string, out any) error {
	v := reflect.ValueOf(out).Elem()
	t := v.Type()
	known := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if n := paramName(t.Field(i)); n != "" {
			known[n] = i
		}
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		idx, ok := known[name]
		if !ok {
			return model.InvalidParam(name, "%s takes no parameter --%s (it takes: %s)", action, name, strings.Join(paramNames(t), ", "))
		}
		if err := setField(v.Field(idx), name, params[name]); err != nil {
			return err
		}
	}
	return nil
}

func setField(f reflect.Value, name, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case *string:
		f.Set(reflect.ValueOf(&raw))
	case bool, *bool:
		b, err := model.ParseBool(name, raw)
		if err != nil {
			return err
		}
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.ValueOf(&b))
		} else {
			f.SetBool(b)
		}
	case int, *int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return model.InvalidParam(name, "must be an integer, got %q", raw)
		}
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.ValueOf(&n))
		} else {
			if n < 1 {
				return model.InvalidParam(name, "must be a positive integer, got %d", n)
			}
			f.SetInt(int64(n))
		}
	default:
		// Lists are JSON, as in the cloud CLI: '["MyPendingLabel"]'.
		p := reflect.New(f.Type())
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p.Interface()); err != nil {
			return model.InvalidParam(name, "must be JSON of the form %s", jsonShape(f.Type()))
		}
		f.Set(p.Elem())
	}
	return nil
}

func jsonShape(t reflect.Type) string {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String {
		return `["a","b"]`
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		return `[{"Key":"SecretName","Values":["a"]}]`
	}
	return "a JSON value"
}
