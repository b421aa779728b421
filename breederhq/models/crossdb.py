from django.db import models


class CrossDbReference(models.Model):
    """One link from a row in this database to a row in the other one.

    Written in the source row's database, in the same transaction as the source row, by
    `breederhq.crossdb.record_references`. One row per (source row, column).
    """

    source_table = models.CharField(max_length=100)
    source_id = models.BigIntegerField()
    source_column = models.CharField(max_length=100)
    target_db = models.CharField(max_length=50)
    target_table = models.CharField(max_length=100)
    target_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cross_db_references"
        constraints = [
            models.UniqueConstraint(
                fields=["source_table", "source_id", "source_column"], name="cross_db_references_one_per_column"
            ),
        ]
        indexes = [
            # "Who points at this row?" — asked before a hard delete and by crossdb_check.
            models.Index(fields=["target_table", "target_id"], name="cross_db_refs_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_table}#{self.source_id}.{self.source_column} -> {self.target_db}:{self.target_table}#{self.target_id}"
