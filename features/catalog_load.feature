Feature: A platform engineer loads a catalog
  As a platform engineer I point understage at the catalog-info.yaml files
  my organisation already has, and every entity shows up with its relations,
  exactly as Backstage would show it.

  Background:
    Given a catalog folder with the example organisation
    And understage is configured with that folder as a file location

  Scenario: Every entity of the organisation is in the catalog
    When the catalog has finished processing
    Then the catalog lists every entity of the example organisation
    And every entity has a uid, an etag and its location annotations

  Scenario: Relations are stitched in both directions
    When the catalog has finished processing
    Then component "order-service" is owned by "group:default/team-orders"
    And group "team-orders" has the relation "ownerOf" to "component:default/order-service"

  Scenario: An invalid entity is skipped and the rest of its file still ingests
    Given the file "components/mixed.yaml" holds one valid component "good-one" and one component with an invalid name
    When the catalog has finished processing
    Then the catalog has the component "good-one"
    And the catalog has no entity named "Not A Valid Name!"

  Scenario: A malformed YAML file is reported on its location and loses nothing
    Given the catalog has finished processing
    And the catalog lists every entity of the example organisation
    When the file "all.yaml" is replaced by malformed YAML
    And the catalog has finished processing again
    Then every entity of the example organisation is still in the catalog
    And the location entity for "all.yaml" reports a processing error

  Scenario: Edits show up and deleted entities disappear
    Given the file "components/mixed.yaml" holds one valid component "good-one" and one component with an invalid name
    And the catalog has finished processing
    When the component "good-one" is edited to have the description "Edited"
    And the catalog has finished processing again
    Then the component "good-one" has the description "Edited"
    When the component "good-one" is removed from its file
    And the catalog has finished processing again
    Then the catalog has no entity named "good-one"
