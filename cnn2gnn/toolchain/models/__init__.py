"""Model families: the CNN teachers, the CNN2GNN student and the small-CNN student.

One family per file; each is registered here, and built with
:func:`~cnn2gnn.toolchain.models.registry.create_model`. Registering imports nothing heavy.
"""

from cnn2gnn.toolchain.models.registry import register_model

register_model(
    "resnet", role="teacher", module="cnn2gnn.toolchain.models.teacher", model_class="ResNetTeacher",
    config_class="TeacherConfig", summary="CIFAR-style ResNets, depth 6n+2",
    archs=("resnet8", "resnet14", "resnet20", "resnet32", "resnet56"),
)
register_model(
    "cnn2gnn-student", role="student", module="cnn2gnn.toolchain.models.student", model_class="CNN2GNNStudent",
    config_class="StudentConfig", summary="DSGL sparse graph + GCN",
)
register_model(
    "cnn-student", role="student", module="cnn2gnn.toolchain.models.cnn_student", model_class="CNNStudent",
    config_class="CNNStudentConfig", summary="the small-CNN distillation baseline",
)
