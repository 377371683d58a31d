{{/*
Names, labels and small shared snippets. Conventions of `helm create`: names are truncated to 63
characters (the DNS label limit) and trimmed of a trailing "-".
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kfaas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name if it already contains
the chart name ("kfaas" -> "kfaas"), else "<release>-<chart>".
*/}}
{{- define "kfaas.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>", for a dict with "ctx" (the root context) and "component". */}}
{{- define "kfaas.componentName" -}}
{{- printf "%s-%s" (include "kfaas.fullname" .ctx | trunc 50 | trimSuffix "-") .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kfaas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "kfaas.labels" -}}
helm.sh/chart: {{ include "kfaas.chart" . }}
app.kubernetes.io/name: {{ include "kfaas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kfaas
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component; a dict with "ctx" and "component". Never change these:
Deployment selectors are immutable. */}}
{{- define "kfaas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kfaas.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's resources; a dict with "ctx" and "component". */}}
{{- define "kfaas.componentLabels" -}}
{{ include "kfaas.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kfaas.operator.fullname" -}}
{{ include "kfaas.componentName" (dict "ctx" . "component" "operator") }}
{{- end }}

{{- define "kfaas.activator.fullname" -}}
{{ include "kfaas.componentName" (dict "ctx" . "component" "activator") }}
{{- end }}

{{/* The headless Service of the activators' gRPC and admin ports (one DNS record per pod). */}}
{{- define "kfaas.activator.grpcServiceName" -}}
{{ include "kfaas.componentName" (dict "ctx" . "component" "activator-grpc") }}
{{- end }}

{{/* host:port of the activators' gRPC ports through the headless Service: resolves to one address
per activator pod (the operator's autoscaler reads each; each activator asks the others). */}}
{{- define "kfaas.activator.grpcAddress" -}}
{{ include "kfaas.activator.grpcServiceName" . }}.{{ .Release.Namespace }}.svc.{{ required "clusterDomain is required" .Values.clusterDomain }}:{{ int .Values.activator.ports.grpc }}
{{- end }}

{{- define "kfaas.operator.serviceAccountName" -}}
{{ include "kfaas.operator.fullname" . }}
{{- end }}

{{- define "kfaas.activator.serviceAccountName" -}}
{{ include "kfaas.activator.fullname" . }}
{{- end }}

{{/* "<repository>:<tag>" of a component's image; the tag defaults to the chart's appVersion. */}}
{{- define "kfaas.image" -}}
{{- $img := .image }}
{{- printf "%s:%s" (required "image.repository is required" $img.repository) (default .ctx.Chart.AppVersion ($img.tag | toString)) }}
{{- end }}

{{/* The in-flight limit of one activator replica: maxConcurrencyPerReplica, else the cluster
limit divided over the replicas, rounded up. */}}
{{- define "kfaas.activator.maxConcurrency" -}}
{{- $a := .Values.activator }}
{{- if gt (int $a.maxConcurrencyPerReplica) 0 }}
{{- int $a.maxConcurrencyPerReplica }}
{{- else }}
{{- $replicas := ternary $a.hpa.minReplicas $a.replicas $a.hpa.enabled | int }}
{{- $limit := int .Values.clusterConcurrencyLimit }}
{{- if lt $limit 1 }}
{{- fail "clusterConcurrencyLimit must be at least 1" }}
{{- end }}
{{- if lt $replicas 1 }}
{{- fail "activator.replicas (or activator.hpa.minReplicas) must be at least 1" }}
{{- end }}
{{- div (add $limit $replicas -1) $replicas }}
{{- end }}
{{- end }}
