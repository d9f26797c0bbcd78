{{- define "drctl.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "drctl.labels" -}}
app.kubernetes.io/name: drctl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "drctl.configMap" -}}
{{ .Values.existingConfigMap | default (printf "%s-config" .Release.Name) }}
{{- end -}}

{{/* The pod settings every drctl container shares. */}}
{{- define "drctl.env" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: DRCTL_CONFIG
  value: /etc/drctl/drctl.yaml
{{- end -}}

{{- define "drctl.probes" -}}
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 10
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 20
{{- end -}}
