{{/* Names, labels and small lookups shared by the templates. */}}

{{- define "kubeqa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubeqa.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubeqa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kubeqa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeqa
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "operator") */}}
{{- define "kubeqa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeqa.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kubeqa.componentLabels" -}}
{{ include "kubeqa.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* registry/repository:tag or @digest: (dict "image" .Values.image "default" .Chart.AppVersion) */}}
{{- define "kubeqa.image" -}}
{{- $repo := .image.repository -}}
{{- if .image.registry }}{{ $repo = printf "%s/%s" .image.registry .image.repository }}{{ end -}}
{{- if .image.digest -}}
{{ $repo }}@{{ .image.digest }}
{{- else -}}
{{ $repo }}:{{ .image.tag | default .default }}
{{- end -}}
{{- end }}

{{- define "kubeqa.jobsNamespace" -}}
{{- .Values.jobs.namespace | default .Release.Namespace }}
{{- end }}

{{- define "kubeqa.operatorServiceAccount" -}}
{{- .Values.operator.serviceAccount.name | default (printf "%s-operator" (include "kubeqa.fullname" .)) }}
{{- end }}

{{- define "kubeqa.webuiServiceAccount" -}}
{{- .Values.webui.serviceAccount.name | default (printf "%s-webui" (include "kubeqa.fullname" .)) }}
{{- end }}

{{/* Secret holding the database URL, and its key. */}}
{{- define "kubeqa.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "kubeqa.fullname" .)) }}
{{- end }}
{{- define "kubeqa.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/* Secret with the S3 settings (both namespaces). */}}
{{- define "kubeqa.s3Secret" -}}
{{- .Values.s3.existingSecret | default (printf "%s-s3" (include "kubeqa.fullname" .)) }}
{{- end }}

{{- define "kubeqa.adminSecret" -}}
{{- .Values.webui.admin.existingSecret | default (printf "%s-admin" (include "kubeqa.fullname" .)) }}
{{- end }}

{{- define "kubeqa.oidcSecret" -}}
{{- .Values.webui.oidc.existingSecret | default (printf "%s-oidc" (include "kubeqa.fullname" .)) }}
{{- end }}

{{/* A value kept across upgrades: the existing Secret's key, else the given value, else random.
     (dict "root" $ "secret" name "namespace" ns "key" key "value" value "length" n) */}}
{{- define "kubeqa.keptSecretValue" -}}
{{- $existing := lookup "v1" "Secret" .namespace .secret -}}
{{- if .value -}}
{{ .value }}
{{- else if and $existing (hasKey $existing.data .key) -}}
{{ index $existing.data .key | b64dec }}
{{- else -}}
{{ randAlphaNum (int .length) }}
{{- end -}}
{{- end }}

{{/* Generated passwords are memoised in .Values so every template of one render sees the same. */}}
{{- define "kubeqa.postgresqlPassword" -}}
{{- if not .Values.postgresql.password }}
{{- $_ := set .Values.postgresql "password" (include "kubeqa.keptSecretValue" (dict "root" . "secret" (printf "%s-postgresql" (include "kubeqa.fullname" .)) "namespace" .Release.Namespace "key" "password" "value" "" "length" 32)) }}
{{- end }}
{{- .Values.postgresql.password }}
{{- end }}

{{- define "kubeqa.minioPassword" -}}
{{- if not .Values.minio.rootPassword }}
{{- $_ := set .Values.minio "rootPassword" (include "kubeqa.keptSecretValue" (dict "root" . "secret" (printf "%s-minio" (include "kubeqa.fullname" .)) "namespace" .Release.Namespace "key" "rootPassword" "value" "" "length" 40)) }}
{{- end }}
{{- .Values.minio.rootPassword }}
{{- end }}

{{/* S3 settings as the processes see them (bundled MinIO or external). */}}
{{- define "kubeqa.s3Endpoint" -}}
{{- if .Values.minio.bundled }}{{ printf "%s-minio.%s.svc:9000" (include "kubeqa.fullname" .) .Release.Namespace }}{{ else }}{{ .Values.s3.endpoint }}{{ end }}
{{- end }}
{{- define "kubeqa.s3UseSSL" -}}
{{- if .Values.minio.bundled }}false{{ else }}{{ .Values.s3.useSSL }}{{ end }}
{{- end }}

{{- define "kubeqa.apiUrl" -}}
{{- .Values.webui.apiUrl | default (printf "http://%s-webui.%s.svc:%d" (include "kubeqa.fullname" .) .Release.Namespace (int .Values.webui.service.port)) }}
{{- end }}

{{/* The restricted Pod Security container context every kubeqa container uses. */}}
{{- define "kubeqa.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
