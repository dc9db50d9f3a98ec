Feature: Rego policies decide what each user may see and do
  Operators write permission policies in Rego. Understage asks them about
  every catalog read, delete and scaffolder action; a conditional answer
  becomes a filter, so lists, totals, facets and pages show the same world.

  Background:
    Given understage serves the example organisation with a Rego policy that lets users read and delete only what their groups own
    And "tom.becker" has signed in

  Scenario: A user sees only the entities their groups own
    When they list every entity
    Then every entity they see is owned by "user:default/tom.becker" or "group:default/team-shop"
    And they see every entity the catalog has with those owners
    And the by-query total, the kind facet counts and the cursor pages agree with that list

  Scenario: A non-owner's delete is refused
    When they delete the component "order-service"
    Then the delete is refused with a 403 NotAllowedError
    And the component "order-service" is still in the catalog
    When they delete a component owned by "group:default/team-shop"
    Then the delete succeeds

  Scenario: A template step with a forbidden action fails the task
    Given a template whose second step deletes files, which the policy forbids
    When they run the template
    Then the task fails with the message "Unauthorized action: fs:delete. The action is not allowed."
    And the first step of the task has completed

  Scenario: Changing the policy file changes decisions without a restart
    When they list every entity
    Then they see at least one entity
    When the policy file is changed to deny reading the catalog
    Then they eventually see no entity
