{{- define "mini.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end }}
