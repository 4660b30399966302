"""Airflow DAG: callrecords-etl for every tenant, once an hour, in a Kubernetes pod.

One mapped task per tenant (dynamic task mapping over the Airflow Variable
``callrecords_etl_tenants``, a JSON list of Entra tenant ids), each running the
callrecords-etl image with the KubernetesPodOperator and the same identity,
settings and hardening as deploy/kubernetes (ServiceAccount ``callrecords-etl``
with Azure workload identity and IRSA, ConfigMap ``callrecords-etl``, optional
Secret ``callrecords-etl-graph``). Apply deploy/kubernetes first, less the
CronJob if Airflow is the scheduler::

    airflow variables set callrecords_etl_tenants '["<tenant guid>", "<tenant guid>"]'

Iceberg tables (README, "Iceberg tables"): the pods read the ConfigMap, so
apply deploy/kubernetes/iceberg instead of deploy/kubernetes; it sets
CALLRECORDS_TABLE_FORMAT=iceberg and CALLRECORDS_ICEBERG_CATALOG, and adds the
weekly ``callrecords-etl maintain`` CronJob. The mapped tenants commit to the
same Iceberg tables at once; a commit that loses the race is retried.

Window. Each run passes Airflow's data interval as an explicit window,
``--from data_interval_start - lookback_hours --to data_interval_end``. Graph
publishes a call record up to about 150 minutes after the call ends (meetings
last hours, later versions keep coming) and PSTN / Direct Routing rows 24-48 h
late, so a window of exactly the data interval would miss them for good: each
run re-reads the trailing ``lookback_hours`` (72 by default, as the job's own
--usage-lookback; its --lookback for call records is 48 h) and fetches only
call records that are new or changed. Set the DAG param to 0 for a
strict interval (e.g. a backfill of long-settled days). An explicit window
never moves the job's watermark: in this mode watch
``callrecords_etl_last_success_timestamp_seconds``, not the watermark metrics.

Exit codes of ``callrecords-etl run`` and what the task does:
    0    success
    1    transient failure (network, Graph, S3)   -> retried (retries=2, back-off)
    2    usage / configuration error              -> failed at once, no retry
    3    completed, retention gap                 -> failed at once, no retry: alert
    4    completed, records quarantined           -> failed at once, no retry: alert
    5    another run holds the tenant's lease     -> skipped (the holder is doing
         the work; the next run's lookback covers this window)
    130  interrupted                              -> retried
Retries are decided by supported means only. Exit 5 uses the operator's own
``skip_on_exit_code``. For 2, 3 and 4 the provider has no setting (checked in
its source, see below) and a retry callback cannot cancel a retry, so
CallRecordsPodOperator overrides ``execute`` — the operator's public entry
point — and, when the pod failed, reads the container's exit code from
``remote_pod`` (the completed pod the operator keeps) and raises
AirflowFailException, which Airflow never retries. Everything else (1, 130,
a pod that never started) is retried by ``retries``.

XCom. The job writes its run summary (JSON: windows, rows, files, Graph
requests, gaps, quarantined ids) to ``--summary-file /airflow/xcom/return.json``,
the file the operator's XCom sidecar reads (``do_xcom_push=True``), so the
summary is each mapped task's ``return_value``.

Pinned: apache-airflow-providers-cncf-kubernetes 10.12.0 on Airflow 3 (the
imports also fall back to Airflow 2.7+). deploy/validate compiles this file and
checks every keyword given to the operator, the overridden method and the
attributes it reads against that release's published
``KubernetesPodOperator`` and Airflow 3's ``BaseOperator.__init__``
(deploy/validate/testdata/airflow/), without installing Airflow.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pendulum
from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

try:  # Airflow 3
    from airflow.sdk import DAG, Param, Variable, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models import Variable
    from airflow.models.param import Param

# Keep in step with deploy/kubernetes (deploy/validate checks the image).
IMAGE = "ghcr.io/callrecords-etl/callrecords-etl:v0.2.0"
NAMESPACE = "callrecords-etl"
SERVICE_ACCOUNT = "callrecords-etl"
CONFIGMAP = "callrecords-etl"
GRAPH_SECRET = "callrecords-etl-graph"
TENANTS_VARIABLE = "callrecords_etl_tenants"
CONTAINER = "base"  # the KubernetesPodOperator's container name

EXIT_CODES = {
    0: "done",
    1: "failed (transient), worth retrying",
    2: "usage or configuration error",
    3: "completed, but data had expired from Graph before it was read (retention gap)",
    4: "completed, but some records could not be processed (quarantined)",
    5: "another run holds the tenant's lock",
    130: "interrupted",
}
SKIP_EXIT_CODES = [5]
FAIL_FAST_EXIT_CODES = [2, 3, 4]

TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def container_exit_code(pod, container_name):
    """Returns the exit code of the pod's container, or None if it has not terminated."""
    if pod is None or pod.status is None:
        return None
    for status in pod.status.container_statuses or []:
        if status.name == container_name and status.state is not None and status.state.terminated is not None:
            return status.state.terminated.exit_code
    return None


class CallRecordsPodOperator(KubernetesPodOperator):
    """KubernetesPodOperator that does not retry callrecords-etl's exit codes 2, 3 and 4."""

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException:
            raise
        except AirflowException as err:
            code = container_exit_code(self.remote_pod, self.base_container_name)
            if code in FAIL_FAST_EXIT_CODES:
                raise AirflowFailException(
                    f"callrecords-etl exited with code {code}: {EXIT_CODES[code]}; not retried"
                ) from err
            raise


@task
def tenant_envs():
    """Reads the tenant list at run time (not at DAG parse time) and returns one pod env per tenant."""
    tenants = Variable.get(TENANTS_VARIABLE, None, deserialize_json=True)
    if not tenants or not isinstance(tenants, list):
        raise AirflowFailException(f"Airflow Variable {TENANTS_VARIABLE} must be a JSON list of tenant ids")
    envs = []
    for tenant in dict.fromkeys(tenants):
        if not isinstance(tenant, str) or not TENANT_ID.match(tenant):
            raise AirflowFailException(f"{TENANTS_VARIABLE}: {tenant!r} is not an Entra tenant id (a GUID)")
        envs.append(
            {
                "CALLRECORDS_TENANT_ID": tenant,
                "CALLRECORDS_TEMP_DIR": "/tmp",
                "CALLRECORDS_LOG_FORMAT": "json",
                "GOMEMLIMIT": "450MiB",
            }
        )
    return envs


with DAG(
    dag_id="callrecords_etl",
    description="Microsoft Teams call records and PSTN / Direct Routing usage into the Parquet lake",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    # History older than Graph's 30-day retention cannot be read anyway; the
    # first runs (no checkpoint yet) and the lookback cover recent days.
    catchup=False,
    max_active_runs=1,
    params={"lookback_hours": Param(72, type="integer", minimum=0, maximum=720)},
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=55),
    },
    tags=["callrecords-etl", "teams", "lake"],
    doc_md=__doc__,
) as dag:
    CallRecordsPodOperator.partial(
        task_id="run",
        name="callrecords-etl",
        namespace=NAMESPACE,
        image=IMAGE,
        arguments=[
            "run",
            "--from",
            "{{ (data_interval_start - macros.timedelta(hours=params.lookback_hours)) | ts }}",
            "--to",
            "{{ data_interval_end | ts }}",
            # The file the operator's XCom sidecar reads (provider 10.12.0).
            "--summary-file",
            "/airflow/xcom/return.json",
        ],
        service_account_name=SERVICE_ACCOUNT,
        labels={
            "app.kubernetes.io/name": "callrecords-etl",
            "app.kubernetes.io/component": "airflow",
            # Azure workload identity: the webhook mutates only labelled pods.
            "azure.workload.identity/use": "true",
        },
        env_from=[
            k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=CONFIGMAP)),
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=GRAPH_SECRET, optional=True)),
        ],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "512Mi"},
            limits={"memory": "512Mi", "ephemeral-storage": "4Gi"},
        ),
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=65532,
            run_as_group=65532,
            fs_group=65532,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        volumes=[k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="4Gi"))],
        volume_mounts=[k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        termination_grace_period=120,
        skip_on_exit_code=SKIP_EXIT_CODES,
        get_logs=True,
        log_events_on_failure=True,
        # The run summary becomes the task's return_value (see XCom above).
        do_xcom_push=True,
        on_finish_action="delete_succeeded_pod",
        # Tenants run in parallel, at most this many at once (Graph's limits
        # are per app per tenant, so they do not slow each other down).
        max_active_tis_per_dagrun=4,
    ).expand(
        # The ConfigMap carries the shared settings (dest, datasets); env_vars
        # win over envFrom, so each mapped pod reads its own tenant.
        env_vars=tenant_envs(),
    )
