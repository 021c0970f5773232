{{/* Chart label value: name-version. */}}
{{- define "kelos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object of the chart. */}}
{{- define "kelos.labels" -}}
app.kubernetes.io/name: kelos
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kelos
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "kelos.chart" . }}
{{- end -}}

{{/* Selector of the controller pods (the original's labels; never change them: selectors are immutable). */}}
{{- define "kelos.selectorLabels" -}}
app.kubernetes.io/name: kelos
app.kubernetes.io/component: manager
{{- end -}}

{{/* `repo` or `repo:tag`: include "kelos.image" (list .Values.xImage .Values.image.tag) */}}
{{- define "kelos.image" -}}
{{- $repo := index . 0 -}}
{{- $tag := index . 1 -}}
{{- if $tag -}}{{ printf "%s:%s" $repo $tag }}{{- else -}}{{ $repo }}{{- end -}}
{{- end -}}

{{/* A map with every value made a string (annotation and label values must be strings). */}}
{{- define "kelos.stringMap" -}}
{{- $out := dict -}}
{{- range $k, $v := . -}}
{{- $_ := set $out $k (toString $v) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
