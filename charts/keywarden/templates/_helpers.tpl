{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "keywarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name + chart name, unless the release name already contains it. */}}
{{- define "keywarden.fullname" -}}
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

{{/* Name of the KMS plugin resources. */}}
{{- define "keywarden.kmsFullname" -}}
{{- printf "%s-kms" (include "keywarden.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keywarden.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "keywarden.labels" -}}
helm.sh/chart: {{ include "keywarden.chart" . }}
app.kubernetes.io/name: {{ include "keywarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keywarden
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of the provider pods. */}}
{{- define "keywarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keywarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: provider
{{- end }}

{{/* Selector labels of the KMS plugin pods. */}}
{{- define "keywarden.kmsSelectorLabels" -}}
app.kubernetes.io/name: {{ include "keywarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: kms-plugin
{{- end }}

{{- define "keywarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keywarden.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository, then @digest if set, else :tag (default appVersion). */}}
{{- define "keywarden.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
checkov annotations shared by both DaemonSets: each suppression states its reason, so a scan
of the rendered chart has no unexplained finding.
*/}}
{{- define "keywarden.checkovRoot" -}}
checkov.io/skip1: "CKV_K8S_23=Runs as uid 0 only to create its unix socket in a root-owned hostPath directory; privilege escalation is off and every capability is dropped (README, Running as non-root)."
checkov.io/skip2: "CKV_K8S_40=Same reason as CKV_K8S_23: uid 0 owns the hostPath socket directory."
{{- if not .Values.image.digest }}
checkov.io/skip3: "CKV_K8S_43=The image is pinned by its release tag; set image.digest to pin it by digest."
{{- end }}
{{- if ne .Values.image.pullPolicy "Always" }}
checkov.io/skip4: "CKV_K8S_15=Release tags are immutable; IfNotPresent keeps node-critical pods starting when the registry is unreachable. Set image.pullPolicy to Always if required."
{{- end }}
{{- end }}

{{/* "true" when the KMS plugin's HTTP server listens on loopback only (not scrapeable). */}}
{{- define "keywarden.kmsLoopback" -}}
{{- $h := .Values.kmsPlugin.http.host }}
{{- if or (hasPrefix "127." $h) (eq $h "::1") (eq $h "localhost") }}true{{ end }}
{{- end }}

{{/* An --http-addr value from (list host port): host:port, IPv6 hosts in brackets. */}}
{{- define "keywarden.hostPort" -}}
{{- $h := index . 0 }}
{{- if contains ":" $h }}
{{- printf "[%s]:%d" $h (int (index . 1)) }}
{{- else }}
{{- printf "%s:%d" $h (int (index . 1)) }}
{{- end }}
{{- end }}

{{/* The KMS plugin's --http-addr. */}}
{{- define "keywarden.kmsHttpAddr" -}}
{{- include "keywarden.hostPort" (list .Values.kmsPlugin.http.host .Values.kmsPlugin.http.port) }}
{{- end }}

{{/* The provider's --http-addr. */}}
{{- define "keywarden.httpAddr" -}}
{{- include "keywarden.hostPort" (list .Values.http.host .Values.http.port) }}
{{- end }}

{{/* Where kubelet sends the KMS plugin's probes: the listen address, loopback for wildcards. */}}
{{- define "keywarden.kmsProbeHost" -}}
{{- $h := .Values.kmsPlugin.http.host }}
{{- if eq $h "0.0.0.0" }}127.0.0.1{{ else if eq $h "::" }}::1{{ else }}{{ $h }}{{ end }}
{{- end }}
