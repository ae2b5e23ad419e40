# sgguard: two commands from a fresh clone.
#   make demo   the whole loop through a moto server and `chalice local` on loopback: rule revoked, message
#   make test   lint + types + tests
# Deploying (README "Deploying"):
#   make package STAGE=prod                 build/prod/: the merged CloudFormation template + the checked zip
#   make deploy  STAGE=prod BUCKET=my-artifacts [EMAIL=team@example.com] [KMS_KEY=arn] [TRAIL=true] [ORGANIZATION=o-...] [STACK=name]
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

STAGE ?= prod
STACK ?= sgguard-$(STAGE)
EMAIL ?=
KMS_KEY ?=
TRAIL ?= false
ORGANIZATION ?=
BUCKET ?=
PACKAGED ?= build/$(STAGE)
AWS ?= $(VENV)/bin/aws

.PHONY: demo test lint typecheck unit bench package deploy deploy-arguments clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip<26.3'  # chalice 1.34 requires pip<26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m devtools.demo

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks.bench

deploy-arguments:
	@test -n "$(BUCKET)" || { echo "make deploy: BUCKET=<an S3 bucket of yours, for the code> is required" >&2; exit 2; }

# chalice package needs a region to start, though the template names none: the caller's, else any.
package: $(STAMP)
	rm -rf $(PACKAGED)
	AWS_DEFAULT_REGION=$${AWS_REGION:-$${AWS_DEFAULT_REGION:-us-east-1}} $(VENV)/bin/chalice package \
	  --stage $(STAGE) --merge-template .chalice/deploy/$(STAGE).json $(PACKAGED)
	$(PY) -m devtools.check_package $(PACKAGED)

deploy: deploy-arguments package
	$(AWS) cloudformation package --template-file $(PACKAGED)/sam.json --s3-bucket $(BUCKET) \
	  --s3-prefix $(STACK) --output-template-file $(PACKAGED)/packaged.yaml
	$(AWS) cloudformation deploy --template-file $(PACKAGED)/packaged.yaml --stack-name $(STACK) \
	  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
	  --parameter-overrides NotificationEmail=$(EMAIL) NotificationKmsKeyArn=$(KMS_KEY) CreateTrail=$(TRAIL) \
	    OrganizationId=$(ORGANIZATION)

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
