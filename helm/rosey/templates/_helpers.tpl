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
{{- define "rosey.bot.automodName" -}}
{{- if .Values.automod.existingConfigMap }}{{ .Values.automod.existingConfigMap }}{{ else }}{{ include "rosey.bot.name" . | trunc 55 | trimSuffix "-" }}-automod{{ end }}
{{- end }}
{{- define "rosey.web.name" -}}{{ include "rosey.fullname" . | trunc 59 | trimSuffix "-" }}-web{{- end }}
{{- define "rosey.web.configName" -}}{{ include "rosey.web.name" . | trunc 56 | trimSuffix "-" }}-config{{- end }}
{{- define "rosey.web.testName" -}}{{ include "rosey.fullname" . | trunc 51 | trimSuffix "-" }}-web-healthz{{- end }}
{{- define "rosey.bot.secretName" -}}
{{- if .Values.bot.existingSecret }}{{ .Values.bot.existingSecret }}{{ else }}{{ include "rosey.fullname" . | trunc 56 | trimSuffix "-" }}-cytube{{ end }}
{{- end }}
{{/* what the helm test pod asks: rosey.contract.QUERY_CHANNEL_STATS (tests/chart checks they agree) */}}
{{- define "rosey.test.subject" -}}rosey.db.query.channel_stats{{- end }}
{{- define "rosey.testName" -}}{{ include "rosey.fullname" . | trunc 49 | trimSuffix "-" }}-request-reply{{- end }}

{{/* the URL the bot and the DatabaseService use: the client Service (any server of the cluster) */}}
{{- define "rosey.natsUrl" -}}
nats://{{ include "rosey.nats.name" . }}:{{ .Values.nats.service.port }}
{{- end }}

{{/* whether the bot is deployed: enabled, and a channel to join */}}
{{- define "rosey.bot.deployed" -}}
{{- if and .Values.bot.enabled .Values.cytube.channel }}true{{ end }}
{{- end }}

{{/* whether the web page is deployed (it reads through NATS only, so it needs no channel) */}}
{{- define "rosey.web.deployed" -}}
{{- if .Values.web.enabled }}true{{ end }}
{{- end }}

{{/*
the web page's public base URL, which the bot puts in login links (ROSEY_WEB_URL): the Ingress
host when the Ingress is on (https with its TLS), else web.publicUrl; empty when neither is set
*/}}
{{- define "rosey.web.url" -}}
{{- $w := .Values.web -}}
{{- if and (include "rosey.web.deployed" .) $w.ingress.enabled $w.ingress.host -}}
{{ ternary "https" "http" $w.ingress.tls.enabled }}://{{ $w.ingress.host }}
{{- else if include "rosey.web.deployed" . -}}
{{ $w.publicUrl | trimSuffix "/" }}
{{- end -}}
{{- end }}

{{/*
automatic moderation (docs/automod.md): "true" when the bot reads a rules file, from the chart's
ConfigMap (automod.rules) or one of the user's (automod.existingConfigMap, which wins)
*/}}
{{- define "rosey.automod.enabled" -}}
{{- if or .Values.automod.existingConfigMap .Values.automod.rules }}true{{ end }}
{{- end }}
{{/* where the rules' ConfigMap is mounted in the bot pod: a directory, never a subPath */}}
{{- define "rosey.automod.dir" -}}/etc/rosey/automod{{- end }}

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
{{/* The stream, for both: the DatabaseService creates or updates it, the bot creates it when
it finds none (its outbox drains before the DatabaseService's first start). */}}
{{- define "rosey.stream.settings" -}}
{{- $st := .Values.dbservice.settings.stream -}}
ROSEY_STREAM_REPLICAS: {{ .Values.nats.replicas | int64 | quote }}
ROSEY_STREAM_MAX_AGE_SECONDS: {{ $st.maxAgeSeconds | int64 | quote }}
ROSEY_STREAM_MAX_BYTES: {{ $st.maxBytes | int64 | quote }}
ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS: {{ $st.duplicateWindowSeconds | int64 | quote }}
{{- end }}

{{- define "rosey.dbservice.settings" -}}
{{- $s := .Values.dbservice.settings -}}
ROSEY_NATS_URL: {{ include "rosey.natsUrl" . | quote }}
ROSEY_DB_PATH: "/data/rosey.db"
ROSEY_METRICS_PORT: {{ .Values.dbservice.service.metricsPort | quote }}
ROSEY_JETSTREAM: {{ $s.jetstream | quote }}
ROSEY_BATCH_SIZE: {{ $s.batchSize | int64 | quote }}
{{- $b := .Values.dbservice.backup }}
{{- if $b.enabled }}
ROSEY_BACKUP_DIR: "/backups"
{{- end }}
{{- if $b.s3.url }}
ROSEY_BACKUP_S3_URL: {{ $b.s3.url | quote }}
ROSEY_BACKUP_S3_ENDPOINT: {{ $b.s3.endpoint | quote }}
ROSEY_BACKUP_S3_REGION: {{ $b.s3.region | quote }}
{{- end }}
{{- if or $b.enabled $b.s3.url }}
ROSEY_BACKUP_INTERVAL_SECONDS: {{ $b.intervalSeconds | int64 | quote }}
ROSEY_BACKUP_KEEP: {{ $b.keep | int64 | quote }}
{{- end }}
{{- with .Values.dbservice.retention }}
{{- if .chatDays }}
ROSEY_RETAIN_CHAT_DAYS: {{ .chatDays | quote }}
{{- end }}
{{- if .chatRows }}
ROSEY_RETAIN_CHAT_ROWS: {{ .chatRows | int64 | quote }}
{{- end }}
{{- if .userCountDays }}
ROSEY_RETAIN_USER_COUNT_DAYS: {{ .userCountDays | quote }}
{{- end }}
{{- end }}
{{ include "rosey.stream.settings" . }}
ROSEY_LOG_LEVEL: {{ $s.logLevel | quote }}
ROSEY_LOG_FORMAT: {{ $s.logFormat | quote }}
{{- end }}

{{- define "rosey.dbservice.backupsName" -}}
{{ include "rosey.dbservice.name" . }}-backups
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
{{- if (include "rosey.automod.enabled" .) }}
{{- /* a fixed path: new rules reach the file, not this (the pod does not roll for them) */}}
ROSEY_AUTOMOD_FILE: {{ printf "%s/automod.yaml" (include "rosey.automod.dir" .) | quote }}
{{- end }}
{{- with (include "rosey.web.url" .) }}
ROSEY_WEB_URL: {{ . | quote }}
{{- end }}
{{ include "rosey.stream.settings" . }}
ROSEY_LOG_LEVEL: {{ $s.logLevel | quote }}
ROSEY_LOG_FORMAT: {{ $s.logFormat | quote }}
{{- end }}

{{- define "rosey.web.settings" -}}
{{- $s := .Values.web.settings -}}
ROSEY_NATS_URL: {{ include "rosey.natsUrl" . | quote }}
ROSEY_WEB_HOST: "0.0.0.0"
ROSEY_WEB_PORT: {{ .Values.web.service.port | quote }}
ROSEY_LOG_LEVEL: {{ $s.logLevel | quote }}
ROSEY_LOG_FORMAT: {{ $s.logFormat | quote }}
{{- end }}

{{/* --- API versions and optional APIs, from .Capabilities ---------------------------------- */}}
{{/*
PodDisruptionBudget: policy/v1 where the cluster serves it (1.21+), policy/v1beta1 before.
A cluster lists its kinds (policy/v1/PodDisruptionBudget); an offline render (helm template,
helm lint) only lists group/versions, so the Kubernetes version decides there.
*/}}
{{- define "rosey.pdb.apiVersion" -}}
{{- $api := .Capabilities.APIVersions -}}
{{- if $api.Has "policy/v1/PodDisruptionBudget" -}}
policy/v1
{{- else if $api.Has "policy/v1beta1/PodDisruptionBudget" -}}
policy/v1beta1
{{- else if semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end }}

{{/* "true" when the Prometheus Operator's API (ServiceMonitor, PrometheusRule) is served */}}
{{- define "rosey.monitoring.available" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/* --- volume permissions: call with (dict "ctx" $ "values" .Values.nats) ------------------- */}}
{{/* "true" when the opt-in init container runs for this component (only on its own PVC) */}}
{{- define "rosey.volumePermissions.enabled" -}}
{{- if and .ctx.Values.volumePermissions.enabled .values.persistence.enabled }}true{{ end }}
{{- end }}

{{/*
The init container that hands /data to the uid/gid the component runs as, for volumes that
ignore fsGroup (hostPath, local PVs, some NFS). It runs the component's own image as root with
CAP_CHOWN only, and changes nothing when /data already belongs to that uid/gid.
*/}}
{{- define "rosey.volumePermissions.container" -}}
{{- $pod := .values.podSecurityContext -}}
{{- $uid := required "volumePermissions needs the component's podSecurityContext.runAsUser" $pod.runAsUser | int64 -}}
{{- $gid := default $pod.fsGroup $pod.runAsGroup | default $uid | int64 -}}
name: volume-permissions
{{ include "rosey.image" (dict "ctx" .ctx "image" .values.image) }}
command:
- sh
- -c
- >-
  owner="$(stat -c %u:%g /data)";
  if [ "$owner" = "{{ $uid }}:{{ $gid }}" ]; then echo "/data already belongs to $owner";
  else echo "/data belongs to $owner: chown -R {{ $uid }}:{{ $gid }}"; chown -R {{ $uid }}:{{ $gid }} /data; fi
resources:
  {{- toYaml .ctx.Values.volumePermissions.resources | nindent 2 }}
securityContext:
  runAsUser: 0
  runAsGroup: 0
  runAsNonRoot: false
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
    add: [CHOWN]
volumeMounts:
- name: data
  mountPath: /data
{{- end }}

{{/*
--- render a partial from files/: tpl it with the root context, parse it, then apply the
override block's `merge` (deep-merged; lists are replaced) and `patch` (JSON Patch operations).
Call with (dict "ctx" $ "file" "files/nats/stateful-set.yaml" "override" .Values.nats), where
the override block is any dict with optional `merge` and `patch` keys (or leave it out).
*/}}
{{- define "rosey.render" -}}
{{- $text := .ctx.Files.Get .file -}}
{{- if not $text }}{{ fail (printf "rosey chart: %s is missing or empty" .file) }}{{ end -}}
{{- $obj := tpl $text .ctx | fromYaml -}}
{{- if hasKey $obj "Error" }}{{ fail (printf "rosey chart: %s does not render to YAML: %s" .file $obj.Error) }}{{ end -}}
{{- with .override -}}
{{- with .merge }}{{ $obj = mergeOverwrite $obj (deepCopy .) }}{{ end -}}
{{- with .patch }}{{ $obj = get (include "rosey.jsonPatch" (dict "doc" $obj "patch" . "file" $.file) | fromJson) "doc" }}{{ end -}}
{{- end -}}
{{ toYaml $obj }}
{{- end }}

{{/*
--- JSON Patch (RFC 6902: add, replace, remove) over a document, for what `merge` cannot do
(lists: add a container, a volume, an env entry; remove a key). Paths are JSON pointers:
/spec/volumes/- appends, /env/0 is the first entry, ~1 is "/" and ~0 is "~" in a key.
Call with (dict "doc" $obj "patch" $ops "file" "files/..."); returns {"doc": ...} as JSON.
*/}}
{{- define "rosey.jsonPatch" -}}
{{- $doc := .doc -}}
{{- range $op := .patch -}}
{{- if not (and (kindIs "map" $op) (has $op.op (list "add" "replace" "remove")) (kindIs "string" $op.path) (hasPrefix "/" (toString $op.path))) -}}
{{- fail (printf "rosey chart: patch of %s: %s is not an add, replace or remove operation with a /path" $.file (toJson $op)) -}}
{{- end -}}
{{- $tokens := list -}}
{{- range rest (splitList "/" $op.path) }}{{ $tokens = append $tokens (. | replace "~1" "/" | replace "~0" "~") }}{{ end -}}
{{- $doc = get (include "rosey.jsonPatch.at" (dict "node" $doc "tokens" $tokens "op" $op "file" $.file) | fromJson) "node" -}}
{{- end -}}
{{- dict "doc" $doc | toJson -}}
{{- end }}

{{/* one operation at one level of the document: descend to the last token, change it there */}}
{{- define "rosey.jsonPatch.at" -}}
{{- $node := .node -}}
{{- $key := first .tokens -}}
{{- $last := eq (len .tokens) 1 -}}
{{- $name := .op.op -}}
{{- $where := printf "rosey chart: patch of %s: %s %s" .file .op.op .op.path -}}
{{- if kindIs "map" $node -}}
  {{- if and (not $last) (not (hasKey $node $key)) }}{{ fail (printf "%s: no key %q" $where $key) }}{{ end -}}
  {{- if and $last (ne $name "add") (not (hasKey $node $key)) }}{{ fail (printf "%s: no key %q" $where $key) }}{{ end -}}
  {{- if not $last -}}
    {{- $_ := set $node $key (get (include "rosey.jsonPatch.at" (dict "node" (get $node $key) "tokens" (rest .tokens) "op" .op "file" .file) | fromJson) "node") -}}
  {{- else if eq $name "remove" -}}
    {{- $_ := unset $node $key -}}
  {{- else -}}
    {{- $_ := set $node $key .op.value -}}
  {{- end -}}
{{- else if kindIs "slice" $node -}}
  {{- $size := len $node -}}
  {{- $append := and $last (eq $name "add") (eq $key "-") -}}
  {{- if not (or $append (regexMatch "^(0|[1-9][0-9]*)$" $key)) }}{{ fail (printf "%s: %q is not a list index" $where $key) }}{{ end -}}
  {{- $index := ternary $size (atoi $key) $append -}}
  {{- $inserting := and $last (eq $name "add") -}}
  {{- if gt $index (ternary $size (sub $size 1 | int) $inserting) }}{{ fail (printf "%s: index %d is out of range (%d entries)" $where $index $size) }}{{ end -}}
  {{- $out := list -}}
  {{- range $i, $item := $node -}}
    {{- if ne $i $index -}}
      {{- $out = append $out $item -}}
    {{- else if $inserting -}}
      {{- $out = append (append $out $.op.value) $item -}}
    {{- else if not $last -}}
      {{- $out = append $out (get (include "rosey.jsonPatch.at" (dict "node" $item "tokens" (rest $.tokens) "op" $.op "file" $.file) | fromJson) "node") -}}
    {{- else if eq $name "replace" -}}
      {{- $out = append $out $.op.value -}}
    {{- end -}}
  {{- end -}}
  {{- if and $inserting (eq $index $size) }}{{ $out = append $out .op.value }}{{ end -}}
  {{- $node = $out -}}
{{- else -}}
  {{- fail (printf "%s: %q is inside a %s, not a map or list" $where $key (kindOf $node)) -}}
{{- end -}}
{{- dict "node" $node | toJson -}}
{{- end }}

{{/* --- NATS identities and TLS (docs/nats-security.md) ------------------------------------ */}}
{{- define "rosey.natsAuth.secretName" -}}
{{- if .Values.natsAuth.existingSecret }}{{ .Values.natsAuth.existingSecret }}{{ else }}{{ include "rosey.fullname" . | trunc 53 | trimSuffix "-" }}-nats-auth{{ end }}
{{- end }}
{{- define "rosey.natsTls.secretName" -}}
{{- if .Values.natsTls.secretName }}{{ .Values.natsTls.secretName }}{{ else }}{{ include "rosey.nats.name" . | trunc 59 | trimSuffix "-" }}-tls{{ end }}
{{- end }}
{{/* the identities of src/rosey/nats_auth.py */}}
{{- define "rosey.natsAuth.users" -}}bot dbservice operator web{{- end }}
{{/*
The NATS pod's init container that writes the passwords nats.conf includes: each key of the
Secret as a quoted string (rosey nats-passwords, from the DatabaseService's image, which has
Rosey's permission table and quoting). An empty key or one with a line break stops the pod here
with one line naming the Secret and the key (kubectl logs <pod> -c nats-passwords).
*/}}
{{- define "rosey.natsPasswords.container" -}}
name: nats-passwords
{{ include "rosey.image" (dict "ctx" . "image" .Values.dbservice.image) }}
command:
- rosey
- nats-passwords
- --secret-dir
- /var/run/secrets/rosey-nats
- --secret-name
- {{ include "rosey.natsAuth.secretName" . | quote }}
- --out
- /etc/nats-passwords/passwords.conf
resources:
  {{- toYaml .Values.natsAuth.initResources | nindent 2 }}
securityContext:
  {{- toYaml .Values.nats.securityContext | nindent 2 }}
volumeMounts:
- name: nats-auth-secret
  mountPath: /var/run/secrets/rosey-nats
  readOnly: true
- name: nats-passwords
  mountPath: /etc/nats-passwords
{{- end }}
{{/* a NATS client's env, mounts and volumes: call with (dict "ctx" $ "user" "bot") */}}
{{- define "rosey.natsClient.env" -}}
{{- if .ctx.Values.natsAuth.enabled }}
- name: ROSEY_NATS_USER
  value: {{ .user | quote }}
- name: ROSEY_NATS_PASSWORD_FILE
  value: /var/run/secrets/rosey-nats/password
{{- end }}
{{- if .ctx.Values.natsTls.enabled }}
- name: ROSEY_NATS_TLS_CA
  value: /var/run/secrets/rosey-nats-tls/ca.crt
{{- end }}
{{- end }}
{{- define "rosey.natsClient.volumeMounts" -}}
{{- if .ctx.Values.natsAuth.enabled }}
- name: nats-credentials
  mountPath: /var/run/secrets/rosey-nats
  readOnly: true
{{- end }}
{{- if .ctx.Values.natsTls.enabled }}
- name: nats-tls-ca
  mountPath: /var/run/secrets/rosey-nats-tls
  readOnly: true
{{- end }}
{{- end }}
{{- define "rosey.natsClient.volumes" -}}
{{- if .ctx.Values.natsAuth.enabled }}
- name: nats-credentials
  secret:
    secretName: {{ include "rosey.natsAuth.secretName" .ctx }}
    defaultMode: 0440
    items:
    - key: {{ .user }}
      path: password
{{- end }}
{{- if .ctx.Values.natsTls.enabled }}
- name: nats-tls-ca
  secret:
    secretName: {{ include "rosey.natsTls.secretName" .ctx }}
    defaultMode: 0440
    items:
    - key: ca.crt
      path: ca.crt
{{- end }}
{{- end }}
{{/* "true" when cert-manager's API is served (the Certificate is rendered only there) */}}
{{- define "rosey.certManager.available" -}}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1" }}true{{ end }}
{{- end }}
