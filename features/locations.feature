Feature: A developer registers a repository's catalog-info.yaml
  As a developer I register the catalog-info.yaml of my repository, as the
  "Register existing component" page does, and find my component at once;
  the catalog then follows my repository as it changes, and never loses
  entities because a read fails or another repository claims them.

  Background:
    Given a GitHub server with the repository "acme/payments" describing the component "payments-api"
    And understage reads that GitHub server as its github.com integration

  Scenario: The page proposes the existing file and registering it shows the component at once
    When I analyze the repository "https://github.com/acme/payments"
    Then the analysis lists the component "payments-api" from an existing file
    When I register "https://github.com/acme/payments/blob/main/catalog-info.yaml"
    Then the registration answers 201 with the new location
    And I find the component "payments-api" at once

  Scenario: A repository without a catalog file gets a proposed component
    Given the GitHub server also has the repository "acme/empty" without catalog files
    When I analyze the repository "https://github.com/acme/empty"
    Then the analysis proposes a component named "empty" with the project slug "acme/empty"

  Scenario: An entity edited in the repository changes after a refresh
    Given I have registered the repository "acme/payments"
    When the component "payments-api" is edited in the repository to have the description "Takes card payments"
    And I ask the catalog to refresh "component:default/payments-api"
    Then I find the component "payments-api" with the description "Takes card payments" at once

  Scenario: A file deleted from the repository makes its entities disappear
    Given I have registered the repository "acme/payments"
    And I find the component "payments-worker" at once
    When the file "services/worker.yaml" is deleted from the repository
    And I ask the catalog to refresh "component:default/payments-worker"
    Then the component "payments-worker" disappears
    And I find the component "payments-api" at once

  Scenario: A repository that answers 500 keeps its entities and shows the error
    Given I have registered the repository "acme/payments"
    When the GitHub server answers 500 for the repository "acme/payments"
    And I ask the catalog to refresh "component:default/payments-api"
    Then the Location entity of the registration reports a processing error
    And I find the component "payments-api" at once

  Scenario: A conflicting entity keeps its first owner and the conflict is reported
    Given I have registered the repository "acme/payments"
    And the GitHub server also has the repository "acme/fork" describing the component "payments-api"
    When I register "https://github.com/acme/fork/blob/main/catalog-info.yaml"
    And the catalog has finished processing
    Then the component "payments-api" is still managed by "url:https://github.com/acme/payments/blob/main/catalog-info.yaml"
    And the conflict over "component:default/payments-api" is reported for "url:https://github.com/acme/fork/blob/main/catalog-info.yaml"
    And the Location entity of "url:https://github.com/acme/fork/blob/main/catalog-info.yaml" shows no processing error, as in Backstage
    And the failed unprocessed entities list the conflict over "component:default/payments-api" for "url:https://github.com/acme/fork/blob/main/catalog-info.yaml"
