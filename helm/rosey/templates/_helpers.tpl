{{/*
Names, labels and image references: every resource name is worked out here, once.
Templates under templates/ decide whether an object exists; the YAML lives in files/.
*/}}

{{- define "rosey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rosey.fullname" -}}
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

{{- define "rosey.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* --- resource names ------------------------------------------------------------------ */}}
{{- define "rosey.nats.name" -}}{{ include "rosey.fullname" . | trunc 58 | trimSuffix "-" }}-nats{{- end }}
{{- define "rosey.nats.headlessName" -}}{{ include "rosey.nats.name" . | trunc 54 | trimSuffix "-" }}-headless{{- end }}
{{- define "rosey.nats.configName" -}}{{ include "rosey.nats.name" . | trunc 56 | trimSuffix "-" }}-config{{- end }}
{{- define "rosey.dbservice.name" -}}{{ include "rosey.fullname" . | trunc 53 | trimSuffix "-" }}-dbservice{{- end }}
{{- define "rosey.dbservice.configName" -}}{{ include "rosey.dbservice.name" . | trunc 56 | trimSuffix "-" }}-config{{- end }}
{{- define "rosey.bot.name" -}}{{ include "rosey.fullname" . | trunc 59 | trimSuffix "-" }}-bot{{- end }}
{{- define "rosey.bot.configName" -}}{{ include "rosey.bot.name" . | trunc 56 | trimSuffix "-" }}-config{{- end }}
{{- define "rosey.bot.secretName" -}}
{{- if .Values.bot.existingSecret }}{{ .Values.bot.existingSecret }}{{ else }}{{ include "rosey.fullname" . | trunc 56 | trimSuffix "-" }}-cytube{{ end }}
{{- end }}
{{- define "rosey.testName" -}}{{ include "rosey.fullname" . | trunc 49 | trimSuffix "-" }}-request-reply{{- end }}

{{/* the URL the bot and the DatabaseService use: the client Service (any server of the cluster) */}}
{{- define "rosey.natsUrl" -}}
nats://{{ include "rosey.nats.name" . }}:{{ .Values.nats.service.port }}
{{- end }}

{{/* whether the bot is deployed: enabled, and a channel to join */}}
{{- define "rosey.bot.deployed" -}}
{{- if and .Values.bot.enabled .Values.cytube.channel }}true{{ end }}
{{- end }}

{{/* --- labels: call with (dict "ctx" $ "component" "nats") -------------------------------- */}}
{{- define "rosey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rosey.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rosey.labels" -}}
{{ include "rosey.selectorLabels" . }}
helm.sh/chart: {{ include "rosey.chart" .ctx }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: rosey
{{- with .ctx.Values.global.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* the release's own pods (NetworkPolicy peers) */}}
{{- define "rosey.instanceSelector" -}}
app.kubernetes.io/name: {{ include "rosey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* --- images: call with (dict "ctx" $ "image" .Values.nats.image) --------------------------- */}}
{{- define "rosey.image" -}}
image: {{ printf "%s%s:%s" .ctx.Values.global.image.registry .image.repository (default .ctx.Chart.AppVersion .image.tag | toString) | quote }}
imagePullPolicy: {{ default .ctx.Values.global.image.pullPolicy .image.pullPolicy }}
{{- end }}

{{/* --- env: a map of NAME: value or NAME: {valueFrom: ...} as a container env list ---------- */}}
{{- define "rosey.env" -}}
{{- range $name, $value := . }}
{{- if kindIs "map" $value }}
- {{ merge (dict "name" $name) $value | toYaml | nindent 2 | trim }}
{{- else }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* --- settings the processes read (ConfigMap data; also hashed into pod annotations) ------ */}}
{{- define "rosey.dbservice.settings" -}}
{{- $s := .Values.dbservice.settings -}}
ROSEY_NATS_URL: {{ include "rosey.natsUrl" . | quote }}
ROSEY_DB_PATH: "/data/rosey.db"
ROSEY_METRICS_PORT: {{ .Values.dbservice.service.metricsPort | quote }}
ROSEY_JETSTREAM: {{ $s.jetstream | quote }}
ROSEY_BATCH_SIZE: {{ $s.batchSize | int64 | quote }}
ROSEY_STREAM_REPLICAS: {{ .Values.nats.replicas | int64 | quote }}
ROSEY_STREAM_MAX_AGE_SECONDS: {{ $s.stream.maxAgeSeconds | int64 | quote }}
ROSEY_STREAM_MAX_BYTES: {{ $s.stream.maxBytes | int64 | quote }}
ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS: {{ $s.stream.duplicateWindowSeconds | int64 | quote }}
ROSEY_LOG_LEVEL: {{ $s.logLevel | quote }}
ROSEY_LOG_FORMAT: {{ $s.logFormat | quote }}
{{- end }}

{{- define "rosey.bot.settings" -}}
{{- $s := .Values.bot.settings -}}
ROSEY_CYTUBE_DOMAIN: {{ .Values.cytube.domain | quote }}
ROSEY_CYTUBE_CHANNEL: {{ .Values.cytube.channel | quote }}
ROSEY_CYTUBE_USER: {{ .Values.cytube.user | quote }}
ROSEY_CYTUBE_PASSWORD_FILE: "/var/run/secrets/rosey/password"
ROSEY_CYTUBE_CHANNEL_PASSWORD_FILE: "/var/run/secrets/rosey/channel-password"
ROSEY_NATS_URL: {{ include "rosey.natsUrl" . | quote }}
ROSEY_METRICS_PORT: {{ .Values.bot.service.metricsPort | quote }}
ROSEY_OUTBOX_SIZE: {{ $s.outboxSize | int64 | quote }}
ROSEY_LOG_LEVEL: {{ $s.logLevel | quote }}
ROSEY_LOG_FORMAT: {{ $s.logFormat | quote }}
{{- end }}

{{/*
--- render a partial from files/: tpl it with the root context, parse it, deep-merge `merge` over it.
Call with (dict "ctx" $ "file" "files/nats/stateful-set.yaml" "merge" .Values.nats.merge).
*/}}
{{- define "rosey.render" -}}
{{- $text := .ctx.Files.Get .file -}}
{{- if not $text }}{{ fail (printf "rosey chart: %s is missing or empty" .file) }}{{ end -}}
{{- $obj := tpl $text .ctx | fromYaml -}}
{{- if hasKey $obj "Error" }}{{ fail (printf "rosey chart: %s does not render to YAML: %s" .file $obj.Error) }}{{ end -}}
{{- with .merge }}{{- $obj = mergeOverwrite $obj (deepCopy .) -}}{{- end -}}
{{ toYaml $obj }}
{{- end }}
