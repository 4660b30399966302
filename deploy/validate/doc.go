// Package validate holds offline checks of callrecords-etl's deployment
// artefacts: the Dockerfile and .dockerignore at the repository root, the
// Kubernetes manifests and kustomizations under deploy/kubernetes, the
// PrometheusRule under deploy/prometheus and the Airflow DAG under
// deploy/airflow.
//
// It is a separate module so that the main module does not depend on
// k8s.io/api, kustomize, Prometheus or BuildKit. Everything is in its tests:
//
//	cd deploy/validate && go test ./...
//
// The tests build the real binary from the Docker build context (the
// repository filtered by .dockerignore) with the Dockerfile's flags, and check
// each manifest's arguments and environment against the help of the command it
// runs (`run`, `subscribe`, `notifications serve`). For the change
// notifications example (deploy/kubernetes/notifications) they also run the
// documented flow on loopback with that binary: the Graph simulator, the
// receiver, `subscribe`, a notification and the drain, each with the
// manifests' own arguments and environment.
package validate
