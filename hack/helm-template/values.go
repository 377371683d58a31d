package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

// readValues parses a values document the way Helm does (sigs.k8s.io/yaml): YAML is converted to
// JSON and decoded, so every number becomes a float64 and every map a map[string]interface{}.
func readValues(raw []byte) (map[string]interface{}, error) {
	var y interface{}
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, err
	}
	if y == nil {
		return map[string]interface{}{}, nil
	}
	j, err := yamlToJSONCompatible(y, "")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	m, ok := out.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("the document must be a map, not %T", out)
	}
	return m, nil
}

func yamlToJSONCompatible(v interface{}, at string) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int, int64, uint64, float64, bool:
				ks = fmt.Sprint(kk) // sigs.k8s.io/yaml stringifies scalar keys
			default:
				return nil, fmt.Errorf("%s: unsupported map key %v (%T)", at, k, k)
			}
			c, err := yamlToJSONCompatible(val, at+"."+ks)
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, val := range t {
			c, err := yamlToJSONCompatible(val, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	default:
		return v, nil
	}
}

// mergeMaps merges override into base (Helm's MergeValues for -f files and --set): maps merge
// recursively, anything else (including null) replaces.
func mergeMaps(base, override map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if vm, ok := v.(map[string]interface{}); ok {
			if bm, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce combines user values over the chart's defaults (Helm's CoalesceValues): user values
// win, maps merge recursively, and a user null deletes the default.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		if vm, ok := v.(map[string]interface{}); ok {
			if dm, ok := out[k].(map[string]interface{}); ok {
				out[k] = coalesce(vm, dm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func buildValues(ch *Chart, o *options) (map[string]interface{}, error) {
	user := map[string]interface{}{}
	for _, f := range o.valueFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read values file: %v", err)
		}
		v, err := readValues(raw)
		if err != nil {
			return nil, fmt.Errorf("cannot parse values file %s: %v", f, err)
		}
		user = mergeMaps(user, v)
	}
	for _, s := range o.setValues {
		if err := parseSet(s, user, false); err != nil {
			return nil, fmt.Errorf("failed parsing --set data %q: %v", s, err)
		}
	}
	for _, s := range o.setStrings {
		if err := parseSet(s, user, true); err != nil {
			return nil, fmt.Errorf("failed parsing --set-string data %q: %v", s, err)
		}
	}
	return coalesce(user, ch.Values), nil
}

// parseSet applies one --set argument (Helm's strvals syntax) to dst:
//
//	a.b=c,d=e        nested keys, several assignments
//	a\.b=c           a dot inside a key
//	list={x,y}       a list of values
//	a[1].b=c         a list index (the list grows with nulls as needed)
//	x=null           null (deletes the chart default)
//
// Values are typed as Helm types them (unless asString): true/false, null, integers as int64
// (but not ones with a leading zero); everything else is a string.
func parseSet(s string, dst map[string]interface{}, asString bool) error {
	for _, assign := range splitTop(s, ',') {
		if assign == "" {
			continue
		}
		key, val, ok := cutUnescaped(assign, '=')
		if !ok {
			return fmt.Errorf("key %q has no value", assign)
		}
		path, err := parseKeyPath(key)
		if err != nil {
			return err
		}
		var v interface{}
		if strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}") {
			items := []interface{}{}
			inner := val[1 : len(val)-1]
			if inner != "" {
				for _, it := range splitTop(inner, ',') {
					items = append(items, typedVal(unescape(it), asString))
				}
			}
			v = items
		} else {
			v = typedVal(unescape(val), asString)
		}
		if err := setPath(dst, path, v); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
	}
	return nil
}

type pathElem struct {
	key   string
	index int // -1: not an index
}

func parseKeyPath(key string) ([]pathElem, error) {
	var out []pathElem
	for _, part := range splitTop(key, '.') {
		name := part
		var idx []int
		for {
			open := lastUnescaped(name, '[')
			if open < 0 || !strings.HasSuffix(name, "]") {
				break
			}
			n, err := strconv.Atoi(name[open+1 : len(name)-1])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad list index in %q", part)
			}
			if n > 65536 {
				return nil, fmt.Errorf("list index %d is too large", n)
			}
			idx = append([]int{n}, idx...)
			name = name[:open]
		}
		name = unescape(name)
		if name == "" {
			return nil, fmt.Errorf("empty key in %q", key)
		}
		out = append(out, pathElem{key: name, index: -1})
		for _, n := range idx {
			out = append(out, pathElem{index: n})
		}
	}
	return out, nil
}

func setPath(dst map[string]interface{}, path []pathElem, v interface{}) error {
	var cur interface{} = dst
	var assign func(interface{})
	for i, p := range path {
		last := i == len(path)-1
		if p.index < 0 {
			m, ok := cur.(map[string]interface{})
			if !ok {
				m = map[string]interface{}{}
				assign(m)
			}
			if last {
				m[p.key] = v
				return nil
			}
			key := p.key
			assign = func(x interface{}) { m[key] = x }
			cur = m[key]
			continue
		}
		l, ok := cur.([]interface{})
		if !ok {
			l = []interface{}{}
		}
		for len(l) <= p.index {
			l = append(l, nil)
		}
		assign(l)
		if last {
			l[p.index] = v
			return nil
		}
		idx := p.index
		assign = func(x interface{}) { l[idx] = x }
		cur = l[idx]
	}
	return nil
}

func typedVal(v string, asString bool) interface{} {
	if asString {
		return v
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if v == "0" {
		return int64(0)
	}
	if len(v) > 0 && v[0] != '0' {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return v
}

// splitTop splits on sep outside {...} and not after a backslash (the backslash is kept).
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func cutUnescaped(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func lastUnescaped(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c && (i == 0 || s[i-1] != '\\') {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
