Feature: Paging through a large catalog with a cursor
  The catalog table of the Backstage frontend pages with cursors. Every
  entity must appear exactly once whether one pages forwards or backwards.

  Background:
    Given understage has ingested 1000 generated components

  Scenario: Paging forwards returns each component exactly once
    When I page through components ordered by "metadata.name" with 37 per page following next cursors
    Then I see 1000 distinct components in ascending name order
    And every page reports a total of 1000

  Scenario: Paging backwards returns each component exactly once
    Given I have paged forwards to the last page of components ordered by "metadata.name" with 37 per page
    When I follow previous cursors back to the first page
    Then I see 1000 distinct components
    And the first page has no previous cursor
