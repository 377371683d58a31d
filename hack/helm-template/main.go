// Command helm-template renders a Helm chart the way `helm template` does, for the parts of Helm
// the kfaas chart uses. There is no helm binary here; this lets tests render the chart with the
// same template engine Helm builds on (Go text/template + sprig v3) and the same conventions:
//
//   - values: the chart's values.yaml, coalesced with -f files (in order) and --set/--set-string
//     (strvals syntax: a.b=c,d[0]=e, lists {x,y}, `\.` for a dot in a key); a null deletes a key.
//     Numbers from YAML files are float64, as in Helm (they pass through JSON); --set integers
//     are int64.
//   - built-in objects: .Values .Release (Name Namespace Service IsInstall IsUpgrade Revision)
//     .Chart (Chart.yaml, Helm's capitalised field names) .Capabilities (KubeVersion,
//     APIVersions.Has) .Files (Get GetBytes Glob Lines AsConfig) .Template (Name BasePath).
//   - functions: sprig's TxtFuncMap minus env/expandenv, plus include, tpl, required, fail (sprig),
//     toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, lookup (always empty,
//     as in `helm template`).
//   - output: templates/ files whose names do not start with "_" are rendered with
//     missingkey=zero ("<no value>" removed), NOTES.txt is rendered but left out (--notes prints
//     it instead), each file is split into documents, empty ones dropped, and the documents are
//     sorted by Helm's install order of kinds; each is printed as "---\n# Source: <chart>/<path>".
//     --include-crds prints crds/ first, verbatim, as helm does.
//
// Usage:
//
//	helm-template [flags] RELEASE_NAME CHART_DIR
//	  -n, --namespace NS          (default "default")
//	  -f, --values FILE           (repeatable)
//	      --set K=V[,K=V]         (repeatable)
//	      --set-string K=V        (repeatable)
//	      --include-crds
//	      --kube-version V        (default v1.32.0)
//	  -a, --api-versions G/V      (repeatable; added to the built-in set)
//	  -s, --show-only PATH        (repeatable, e.g. templates/rbac.yaml)
//	      --notes                 print the rendered NOTES.txt only
//	      --is-upgrade            render as an upgrade (.Release.IsUpgrade)
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

type options struct {
	releaseName string
	chartDir    string
	namespace   string
	valueFiles  []string
	setValues   []string
	setStrings  []string
	includeCRDs bool
	kubeVersion string
	apiVersions []string
	showOnly    []string
	notes       bool
	isUpgrade   bool
}

const usage = `usage: helm-template [flags] RELEASE_NAME CHART_DIR
  -n, --namespace NS      release namespace (default "default")
  -f, --values FILE       values file, repeatable, later files win
      --set K=V           set values (strvals syntax), repeatable
      --set-string K=V    set string values, repeatable
      --include-crds      print the chart's crds/ first
      --kube-version V    Kubernetes version for .Capabilities (default v1.32.0)
  -a, --api-versions G/V  extra API version for .Capabilities.APIVersions, repeatable
  -s, --show-only PATH    only the manifests from this template (e.g. templates/rbac.yaml)
      --notes             print the rendered NOTES.txt instead of the manifests
      --is-upgrade        set .Release.IsUpgrade (and not IsInstall)
`

func parseArgs(args []string) (*options, error) {
	o := &options{namespace: "default", kubeVersion: "v1.32.0"}
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(a, "=")
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch name {
		case "-n", "--namespace":
			o.namespace, err = next()
		case "-f", "--values":
			v, err = next()
			o.valueFiles = append(o.valueFiles, v)
		case "--set":
			v, err = next()
			o.setValues = append(o.setValues, v)
		case "--set-string":
			v, err = next()
			o.setStrings = append(o.setStrings, v)
		case "--include-crds":
			o.includeCRDs = true
		case "--kube-version":
			o.kubeVersion, err = next()
		case "-a", "--api-versions":
			v, err = next()
			o.apiVersions = append(o.apiVersions, strings.Split(v, ",")...)
		case "-s", "--show-only":
			v, err = next()
			o.showOnly = append(o.showOnly, v)
		case "--notes":
			o.notes = true
		case "--is-upgrade":
			o.isUpgrade = true
		case "-h", "--help":
			return nil, errHelp
		default:
			return nil, fmt.Errorf("unknown flag: %s", a)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(positional) != 2 {
		return nil, fmt.Errorf("expected RELEASE_NAME and CHART_DIR, got %d arguments", len(positional))
	}
	o.releaseName, o.chartDir = positional[0], positional[1]
	return o, nil
}

var errHelp = fmt.Errorf("help requested")

func run(args []string, stdout io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	ch, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	vals, err := buildValues(ch, o)
	if err != nil {
		return err
	}
	caps, err := newCapabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return err
	}
	if err := checkKubeVersion(ch, caps); err != nil {
		return err
	}
	if err := validateReleaseName(o.releaseName); err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values": vals,
		"Release": map[string]interface{}{
			"Name":      o.releaseName,
			"Namespace": o.namespace,
			"Service":   "Helm",
			"IsInstall": !o.isUpgrade,
			"IsUpgrade": o.isUpgrade,
			"Revision":  1,
		},
		"Chart":        ch.Metadata,
		"Capabilities": caps,
		"Files":        ch.Files,
	}
	rendered, err := renderTemplates(ch, top)
	if err != nil {
		return err
	}
	notesName := ch.Metadata.Name + "/templates/NOTES.txt"
	if o.notes {
		fmt.Fprint(stdout, rendered[notesName])
		return nil
	}
	delete(rendered, notesName)
	manifests, err := sortManifests(rendered)
	if err != nil {
		return err
	}
	return writeManifests(stdout, ch, manifests, o)
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if err == errHelp {
			fmt.Fprint(os.Stdout, usage)
			return
		}
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
