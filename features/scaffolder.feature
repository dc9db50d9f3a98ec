Feature: Developers create software from templates
  Template authors publish golden paths as scaffolder templates in the
  catalog. A developer runs one through the scaffolder API, follows its
  steps on the task page, and finds what it created in the catalog.

  Background:
    Given understage serves the example organisation and the example templates

  Scenario: A developer creates a service from the node-service template and finds it in the catalog
    When I run the template "node-service-registered" with the values:
      """
      name: gift-cards
      description: Sells gift cards
      owner: group:default/team-shop
      system: system:default/storefront
      lifecycle: production
      """
    Then the task ends "completed"
    And the task page shows these steps:
      | step               | status    |
      | fetch              | completed |
      | write-catalog-info | completed |
      | log                | completed |
      | register           | completed |
    And every step that ran has a start time no later than its end time
    And the task output links to "https://git.fernwood.example/gift-cards" and to the entity "group:default/team-shop"
    When the catalog has finished processing
    Then component "gift-cards" is owned by "group:default/team-shop"
    And the component "gift-cards" was created from "template:default/node-service-registered"

  Scenario: A failing step fails the task and the later steps are skipped
    When I run the template "broken-on-purpose" with the values:
      """
      note: failing on purpose
      """
    Then the task ends "failed"
    And the task page shows these steps:
      | step          | status    |
      | log           | completed |
      | fetch-missing | failed    |
      | never         | skipped   |
    And every step that ran has a start time no later than its end time
    And the task's error names the missing folder "this-folder-does-not-exist"

  Scenario: Cancelling a task stops a step that waits
    When I run the template "wait-a-while" with the values:
      """
      {}
      """
    And the step "wait" has begun
    And I cancel the task
    Then the task ends "failed"
    And the task has a cancelled event for the step "wait"
    And the task page shows these steps:
      | step   | status    |
      | before | completed |
      | wait   | failed    |
      | after  | skipped   |
    And the task's error says the step "wait" has been cancelled
