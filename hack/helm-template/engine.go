package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	yaml "gopkg.in/yaml.v2"
)

const (
	warnStart = "HELM_ERR_START"
	warnEnd   = "HELM_ERR_END"
)

var warnRE = regexp.MustCompile(warnStart + `(.*)` + warnEnd)

// toYAML is Helm's toYaml: via JSON (so keys are sorted and numbers print as JSON numbers),
// then YAML, without the trailing newline. Errors become "".
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var y interface{}
	if err := yaml.Unmarshal(j, &y); err != nil {
		return ""
	}
	out, err := yaml.Marshal(y)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m, err := readValues([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var y interface{}
	if err := yaml.Unmarshal([]byte(s), &y); err != nil {
		return []interface{}{err.Error()}
	}
	c, err := yamlToJSONCompatible(y, "")
	if err != nil {
		return []interface{}{err.Error()}
	}
	b, _ := json.Marshal(c)
	var out []interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		return []interface{}{err.Error()}
	}
	return out
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

// renderTemplates executes every template of the chart (partials are parsed only) and returns
// the output by template name ("<chart>/templates/<file>").
func renderTemplates(ch *Chart, top map[string]interface{}) (map[string]string, error) {
	t := template.New("gotpl").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	included := map[string]int{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if included[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var b strings.Builder
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["tpl"] = func(text string, vals interface{}) (string, error) {
		m, ok := vals.(map[string]interface{})
		if !ok {
			return "", fmt.Errorf("tpl: the second argument must be the top-level context (.), not %T", vals)
		}
		tm, _ := m["Template"].(map[string]interface{})
		name, _ := tm["Name"].(string)
		if name == "" {
			return "", fmt.Errorf("tpl: cannot retrieve Template.Name from the context")
		}
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		if _, err := c.New(name).Parse(text); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		var b strings.Builder
		if err := c.ExecuteTemplate(&b, name, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(b.String(), "<no value>", ""), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(warnStart + msg + warnEnd)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(warnStart + msg + warnEnd)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) {
		return "", errors.New(warnStart + msg + warnEnd)
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["fromYamlArray"] = fromYAMLArray
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["fromJsonArray"] = fromJSONArray
	funcs["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	funcs["toToml"] = func(interface{}) (string, error) {
		return "", fmt.Errorf("toToml is not supported by this renderer")
	}
	t.Funcs(funcs)

	// Parse in Helm's order (its sortTemplates): deeper paths first, then by name, descending.
	names := make([]string, 0, len(ch.Templates))
	byName := map[string]string{}
	for _, f := range ch.Templates {
		n := ch.Metadata.Name + "/" + f.Name
		names = append(names, n)
		byName[n] = string(f.Data)
	}
	sort.SliceStable(names, func(i, j int) bool {
		ci, cj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if ci != cj {
			return ci > cj
		}
		return names[i] > names[j]
	})
	for _, n := range names {
		if _, err := t.New(n).Parse(byName[n]); err != nil {
			return nil, cleanParseError(n, err)
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		vals := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{
			"Name": n, "BasePath": ch.Metadata.Name + "/templates",
		}
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, n, vals); err != nil {
			return nil, cleanExecError(n, err)
		}
		out[n] = strings.ReplaceAll(b.String(), "<no value>", "")
	}
	return out, nil
}

func cleanParseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func cleanExecError(name string, err error) error {
	var ee template.ExecError
	if !errors.As(err, &ee) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if m := warnRE.FindStringSubmatch(tokens[2]); len(m) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], m[1])
	}
	return err
}

// Helm's install order of kinds; unknown kinds go last, alphabetically by kind.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

type manifest struct {
	source  string // template name
	content string
	kind    string
	name    string
}

var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests is Helm's SplitManifests: documents of a file, trimmed, empty ones dropped.
func splitManifests(s string) []string {
	var out []string
	for _, d := range docSep.Split(strings.TrimSpace(s), -1) {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

type head struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   *struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
}

func sortManifests(rendered map[string]string) ([]manifest, error) {
	files := make([]string, 0, len(rendered))
	for f := range rendered {
		files = append(files, f)
	}
	sort.Strings(files)
	var ms []manifest
	for _, f := range files {
		for _, d := range splitManifests(rendered[f]) {
			var h head
			if err := yaml.Unmarshal([]byte(d), &h); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %v", f, err)
			}
			if _, hook := h.annotations()["helm.sh/hook"]; hook {
				return nil, fmt.Errorf("%s: hooks are not supported by this renderer", f)
			}
			var body interface{}
			_ = yaml.Unmarshal([]byte(d), &body)
			if body != nil && (h.Kind == "" || h.APIVersion == "") {
				return nil, fmt.Errorf("%s: a document has no kind or apiVersion:\n%s", f, d)
			}
			name := ""
			if h.Metadata != nil {
				name = h.Metadata.Name
			}
			ms = append(ms, manifest{source: f, content: d, kind: h.Kind, name: name})
		}
	}
	order := map[string]int{}
	for i, k := range installOrder {
		order[k] = i
	}
	sort.SliceStable(ms, func(i, j int) bool {
		a, aok := order[ms[i].kind]
		b, bok := order[ms[j].kind]
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		default:
			return ms[i].kind < ms[j].kind
		}
	})
	return ms, nil
}

func (h head) annotations() map[string]string {
	if h.Metadata == nil {
		return nil
	}
	return h.Metadata.Annotations
}

func writeManifests(w io.Writer, ch *Chart, ms []manifest, o *options) error {
	if len(o.showOnly) > 0 {
		want := map[string]bool{}
		for _, s := range o.showOnly {
			want[ch.Metadata.Name+"/"+strings.TrimPrefix(s, "./")] = true
		}
		found := map[string]bool{}
		var kept []manifest
		for _, m := range ms {
			if want[m.source] {
				kept = append(kept, m)
				found[m.source] = true
			}
		}
		for s := range want {
			if !found[s] {
				return fmt.Errorf("could not find template %s in chart", strings.TrimPrefix(s, ch.Metadata.Name+"/"))
			}
		}
		ms = kept
	} else if o.includeCRDs {
		for _, c := range ch.CRDs {
			fmt.Fprintf(w, "---\n# Source: %s/%s\n%s\n", ch.Metadata.Name, c.Name, c.Data)
		}
	}
	for _, m := range ms {
		fmt.Fprintf(w, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	return nil
}
